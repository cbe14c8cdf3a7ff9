// Node: the daemon's core logic on one thread. It owns membership (who, alive → suspect → dead), the election
// (terms, votes, one leader per term), link measurements (RTT by ping, bandwidth by activation-sized probes) and
// the client dispatcher, and drives them from messages and timers over a Transport. Everything runs inside
// poll_once(); the only thread-safe entry points are post_profile() and post_discovered(), for the profiler and
// the beacon threads. Time comes from a Clock, so tests run it on simulated time over the in-process transport.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cluster/discovery_hints.h"
#include "cluster/dispatcher.h"
#include "cluster/election.h"
#include "cluster/link_meter.h"
#include "cluster/membership.h"
#include "cluster/state_store.h"
#include "net/transport.h"
#include "proto/limits.h"

namespace ll::cluster {

struct NodeConfig {
  std::string name;
  std::string cluster = "home";
  std::string advertise;  // endpoint peers should dial; "" = the transport's bound endpoint
  std::vector<std::string> seeds;
  Duration heartbeat_interval = std::chrono::seconds(1);
  Duration suspect_after = std::chrono::milliseconds(1500);
  Duration dead_after = std::chrono::seconds(3);  // the heartbeat timeout
  ElectionTiming election;
  Duration discovery_grace{0};  // extra wait before the first election (beacon discovery)
  Duration ping_interval = std::chrono::seconds(5);
  Duration probe_interval = std::chrono::seconds(30);
  size_t probe_bytes = 256 * 1024;
  std::string data_dir;          // where the term and vote are persisted; "" = memory only
  uint64_t random_seed = 0;      // 0 = from std::random_device
  proto::DeviceProfile profile;  // initial profile; name and endpoint are filled in by the node

  // The data plane's emulated uplink (lingualinkd --emulate-egress), reported in link figures; 0 = none.
  double egress_mbps = 0, egress_latency_ms = 0;
};

class Node {
 public:
  Node(NodeConfig config, net::Transport& transport, const Clock& clock);

  // Loads the persisted term/vote and greets the seeds.
  [[nodiscard]] Status start();
  // Runs due timers, then handles messages arriving within `max_wait` (bounded batch), then timers again.
  void poll_once(Duration max_wait);
  // Tells every peer we leave ('bye'). The caller then destroys the transport.
  void shutdown();

  // Thread-safe: applied on the node's thread at the next poll_once().
  void post_profile(const proto::DeviceProfile& profile);
  void post_discovered(const std::string& endpoint);
  // An operator's removal of a device gone for good (llctl device NAME --remove): it stops counting towards the
  // quorum, as if it had said 'bye'; it comes back only by being heard again. Refused for ourselves, an unknown
  // name, and a member alive or suspect (heard within the heartbeat timeout): a live device is never removed by
  // mistake. Node's thread only.
  [[nodiscard]] Status remove_member(const std::string& name);
  // Called on the node's thread when a client asks for a new profile (refresh_profile); returns whether a compute
  // re-profile was scheduled. Set before start().
  void set_refresh_hook(std::function<bool()> hook) { refresh_hook_ = std::move(hook); }

  // Introspection (node's thread only).
  Role role() const { return election_.role(); }
  uint64_t term() const { return election_.term(); }
  const std::string& leader() const { return election_.leader(); }
  const std::string& name() const { return config_.name; }
  const std::string& endpoint() const { return endpoint_; }
  const Membership& membership() const { return membership_; }
  const DiscoveryHints& hints() const { return hints_; }
  // The CURVE key a device's messages come with ("" when CURVE is off or it was never heard directly).
  [[nodiscard]] std::string key_of(const std::string& device) const;
  [[nodiscard]] proto::StatusBody status() const;
  [[nodiscard]] proto::DevicesBody devices() const;
  // More client commands (load, get_plan, ...) register here; their handlers run on the node's thread.
  Dispatcher& dispatcher() { return dispatcher_; }

 private:
  void apply_posts();
  void leader_gone(TimePoint now);  // the leader left or its process is gone: elect soon, in rank order
  void on_timers(TimePoint now);
  void handle(const net::Incoming& in, TimePoint now);
  void handle_peer(const proto::Envelope& msg, const net::Incoming& in, TimePoint now);
  void handle_hello(const proto::Envelope& msg, const net::Incoming& in, Member& m, TimePoint now);
  void handle_heartbeat(const proto::Envelope& msg, const net::Incoming& in, Member& m, TimePoint now);
  void handle_vote_request(const proto::Envelope& msg, const net::Incoming& in, TimePoint now);
  void handle_pong(const proto::Envelope& msg, TimePoint now);
  void learn_members(const std::vector<proto::MemberRef>& members);
  bool bound_to_sender(const proto::Envelope& msg, const net::Incoming& in);

  proto::Envelope peer_message(proto::MessageType type, proto::Json body = proto::Json::object()) const;
  void send_to(const std::string& endpoint, const proto::Envelope& msg);
  void reply_to(const net::Incoming& in, proto::Envelope msg);
  void reply_error(const net::Incoming& in, const proto::ProtocolError& error);
  void send_heartbeats(TimePoint now);
  void election_started(TimePoint now);
  void send_pings(TimePoint now, bool probe, bool only_unmeasured);
  bool persist();
  bool allow_log();
  proto::DeviceProfile own_profile() const;
  proto::HelloBody hello_body() const;

  NodeConfig config_;
  net::Transport& transport_;
  const Clock& clock_;
  std::string endpoint_;
  Membership membership_;
  Election election_;
  StateStore store_;
  Dispatcher dispatcher_;
  std::mt19937_64 rng_;
  TimePoint started_{};
  TimePoint next_heartbeat_{};
  TimePoint next_ping_{};
  TimePoint next_probe_{};
  LinkMeter links_;
  // Rate limit of log lines and error replies caused by what peers send (token bucket, per second).
  TimePoint bucket_time_{};
  double bucket_ = proto::kRefusalsPerSecond;
  uint64_t suppressed_ = 0;
  std::set<std::string> version_refusals_;  // unsupported_version lines already logged (bounded)

  std::map<std::string, std::string> keys_;  // device name -> the key that first spoke for it (bounded)
  DiscoveryHints hints_;                     // endpoints named by beacons, until they answer or expire
  uint64_t next_ignored_report_ = 1;
  std::function<bool()> refresh_hook_;
  std::mutex post_mu_;
  std::optional<proto::DeviceProfile> posted_profile_;
  std::vector<std::string> posted_endpoints_;
  // Answers of deferred commands, given on other threads, sent on the node's thread. Shared with the answer
  // callbacks so that an answer arriving after the node is gone is dropped, not written into freed memory.
  struct LateReplies {
    std::mutex mutex;
    std::vector<std::pair<net::Incoming, Dispatcher::Outcome>> replies;
  };
  std::shared_ptr<LateReplies> late_replies_ = std::make_shared<LateReplies>();
};

}  // namespace ll::cluster
