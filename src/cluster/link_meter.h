// LinkMeter: round-trip time and bandwidth towards each peer, from our own pings (empty) and probes (an
// activation-sized payload). It only accepts answers to nonces it issued, from the peer it asked. RTT is smoothed;
// bandwidth = payload / (probe round trip - minimum empty round trip), never credited with more than 4x the raw
// rate. Not thread-safe: owned by the node's thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/clock.h"
#include "proto/messages.h"

namespace ll::cluster {

class LinkMeter {
 public:
  // Records an outgoing ping (payload_bytes == 0) or probe; returns its nonce.
  uint64_t issue(const std::string& peer, uint64_t nonce, uint64_t payload_bytes, TimePoint now);
  // An answer: true if it matched an outstanding nonce of `peer` and updated the link.
  bool answer(const std::string& peer, uint64_t nonce, uint64_t bytes_received, TimePoint now);
  void expire(TimePoint now, Duration max_age);
  void forget(const std::string& peer) { links_.erase(peer); }
  // This device's data plane sends through an emulated uplink (lingualinkd --emulate-egress) that the control-plane
  // pings do not cross: stats() reports what that link allows — bandwidth capped, its one-way latency added twice to
  // the round trip (the leader takes half of it) — so the leader plans for the link activations meet. 0 = none.
  void set_emulated_egress(double bandwidth_mbps, double latency_ms) {
    egress_mbps_ = bandwidth_mbps;
    egress_latency_ms_ = latency_ms;
  }

  [[nodiscard]] bool has_rtt(const std::string& peer) const;
  [[nodiscard]] bool has_bandwidth(const std::string& peer) const;
  [[nodiscard]] std::map<std::string, proto::LinkStat> stats() const;
  [[nodiscard]] size_t size() const { return links_.size(); }
  [[nodiscard]] size_t outstanding() const { return pending_.size(); }

 private:
  struct Pending {
    std::string peer;
    TimePoint sent;
    uint64_t bytes;
  };
  struct Link {
    double rtt_ms = 0;          // smoothed
    double min_rtt_ms = 0;      // the floor the bandwidth estimate subtracts
    double bandwidth_mbps = 0;  // smoothed, MB/s (1e6 bytes)
  };
  std::map<uint64_t, Pending> pending_;
  std::map<std::string, Link> links_;
  double egress_mbps_ = 0, egress_latency_ms_ = 0;
};

}  // namespace ll::cluster
