// In-process Transport for tests: transports registered on one InprocHub exchange messages through it, and the
// hub's fault injector can drop messages at random, delay them, and partition named endpoints from each other.
// Delivery times follow the hub's Clock, so a ManualClock gives fully simulated, deterministic runs.
// Thread-safety: the hub and its transports may be used from several threads (one mutex in the hub).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "net/transport.h"

namespace ll::net {

struct FaultStats {
  uint64_t delivered = 0;
  uint64_t dropped_random = 0;
  uint64_t dropped_partition = 0;
  uint64_t dropped_unreachable = 0;
};

class InprocHub {
 public:
  explicit InprocHub(const Clock& clock, uint64_t seed = 1);

  // --- fault injector ---
  void set_drop_rate(double probability);                      // each message independently
  void set_delay(Duration min_delay, Duration max_delay);      // uniform per message
  void partition(const std::string& a, const std::string& b);  // both directions
  void isolate(const std::string& endpoint);                   // from everyone currently registered
  // Splits endpoints into groups that cannot talk across; endpoints not listed are cut off from everyone.
  void split(const std::vector<std::vector<std::string>>& groups);
  void heal();                                            // removes every partition
  void set_down(const std::string& endpoint, bool down);  // a down endpoint neither sends nor receives
  // A killed process on a live host: down, and every other endpoint learns at once that its address refuses
  // connections (Transport::take_unreachable), as TCP peers of a killed process do.
  void kill_process(const std::string& endpoint);
  // Holds back every message from `from` to `to` (queued, not delivered) until release(): a test overtakes one
  // message by others, deterministically.
  void hold(const std::string& from, const std::string& to);
  void release(const std::string& from, const std::string& to);
  // Messages that `endpoint`'s receive() could take now (due and not held).
  [[nodiscard]] size_t deliverable(const std::string& endpoint) const;
  [[nodiscard]] bool blocked(const std::string& from, const std::string& to) const;
  [[nodiscard]] FaultStats stats() const;

 private:
  friend class InprocTransport;
  struct Queued {
    TimePoint deliver_at;
    uint64_t seq;
    Incoming message;
    std::string from;
    bool held = false;
  };
  struct Mailbox {
    std::vector<Queued> queue;
  };
  Status post(const std::string& from, const std::string& to, Incoming message);
  void attach(const std::string& endpoint);
  void detach(const std::string& endpoint);
  std::optional<Incoming> take(const std::string& endpoint, Duration timeout);
  std::vector<std::string> take_unreachable(const std::string& endpoint);
  bool blocked_locked(const std::string& from, const std::string& to) const;

  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::mt19937_64 rng_;
  double drop_rate_ = 0;
  Duration delay_min_{0};
  Duration delay_max_{0};
  std::set<std::pair<std::string, std::string>> cuts_;
  std::set<std::string> down_;
  std::set<std::pair<std::string, std::string>> holds_;
  std::map<std::string, Mailbox> boxes_;
  std::map<std::string, std::vector<std::string>> unreachable_;  // per receiving endpoint
  uint64_t seq_ = 0;
  FaultStats stats_;
};

class InprocTransport final : public Transport {
 public:
  // `sender`: who the receivers of this transport's sends take it for (as CURVE would authenticate it).
  InprocTransport(InprocHub& hub, std::string endpoint, Sender sender = {});
  ~InprocTransport() override;

  const std::string& endpoint() const override { return endpoint_; }
  Status send(const std::string& peer_endpoint, Frames frames) override;
  Status reply(const Incoming& to, Frames frames) override;
  std::optional<Incoming> receive(Duration timeout) override;
  void disconnect(const std::string&) override {}
  std::vector<std::string> take_unreachable() override { return hub_.take_unreachable(endpoint_); }

 private:
  InprocHub& hub_;
  std::string endpoint_;
  Sender sender_;
};

}  // namespace ll::net
