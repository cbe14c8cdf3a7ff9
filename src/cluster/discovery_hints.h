// DiscoveryHints: endpoints heard of by UDP beacons. A beacon is unauthenticated — anyone on the LAN can send one
// naming any endpoint — so a hint is only a reason to send an authenticated hello: it counts towards nothing
// (membership, quorum) until a device behind it has answered over CURVE. Hints are bounded (at most `max_hints`
// pending), rate-limited (a token bucket of `per_second` new hints) and forgotten after `expiry` without an answer,
// when the node also closes the connection it opened to greet them. Not thread-safe: owned by the node's thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"

namespace ll::cluster {

class DiscoveryHints {
 public:
  DiscoveryHints(size_t max_hints, double per_second, Duration expiry);

  // True if `endpoint` is a new hint to greet now; false if it is pending already, over the bound, or over the rate.
  [[nodiscard]] bool offer(const std::string& endpoint, TimePoint now);
  // The device at `endpoint` answered (or it is known otherwise): no longer a hint. True if it was one.
  bool resolved(const std::string& endpoint);
  // Removes and returns the hints older than the expiry.
  [[nodiscard]] std::vector<std::string> expire(TimePoint now);

  [[nodiscard]] bool contains(const std::string& endpoint) const { return pending_.count(endpoint) > 0; }
  [[nodiscard]] std::vector<std::string> pending() const;
  [[nodiscard]] size_t size() const { return pending_.size(); }
  [[nodiscard]] uint64_t ignored() const { return ignored_; }  // offers refused by the bound or the rate

 private:
  size_t max_hints_;
  double per_second_;
  Duration expiry_;
  std::map<std::string, TimePoint> pending_;  // endpoint -> when it was offered
  double tokens_;
  TimePoint refilled_{};
  uint64_t ignored_ = 0;
};

}  // namespace ll::cluster
