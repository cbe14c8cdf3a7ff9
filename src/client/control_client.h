// Typed control calls of a lingualinkd daemon (docs/protocol.md): one request, one reply, each failure a
// ClientError with a code. Used by llctl, the HTTP server and the benchmarks. A ControlClient holds a list of control
// endpoints and tries them in order until one answers (a daemon's error reply is final: it answered).
// Thread-safety: the const calls are stateless (each uses its own socket) and safe from any thread; prefer_next()
// changes the order and belongs to the client's owner.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "client/client_error.h"
#include "client/plan_info.h"
#include "proto/messages.h"

namespace ll::client {

// "a,b,c" -> {a, b, c}; empty items are dropped.
[[nodiscard]] std::vector<std::string> split_endpoints(const std::string& list);

// Where generations go now, and what it serves.
struct HeadRef {
  std::string endpoint;  // the head stage's data endpoint; "" when no model is loaded
  uint64_t version = 0;  // the plan's version
  std::string model;     // the model's name
  std::string error;     // the leader could not re-plan: the cluster cannot continue
};

struct LoadRequest {
  std::string package;  // folder on the leader's disk
  std::string objective = "latency";
  uint64_t context = 0;
  uint64_t max_sessions = 0;  // generations in flight at once (KV reserved on every stage); 0: the leader's default
  std::string wire = "float32";
  std::string policy = "optimal";  // optimal | equal | memory | flops
  bool dry_run = false;            // only plan (llctl plan --model)
};

class ControlClient {
 public:
  ControlClient(std::vector<std::string> endpoints, std::string from,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(2500));
  // From a comma-separated list (llctl --endpoint).
  [[nodiscard]] static ControlClient from_list(const std::string& endpoints, std::string from,
                                               std::chrono::milliseconds timeout = std::chrono::milliseconds(2500));

  [[nodiscard]] const std::vector<std::string>& endpoints() const { return endpoints_; }
  [[nodiscard]] std::chrono::milliseconds timeout() const { return timeout_; }
  // The same endpoints with another timeout per call.
  [[nodiscard]] ControlClient with_timeout(std::chrono::milliseconds timeout) const;
  // Ask the next endpoint first from now on (the one asked first may be the device that died).
  void prefer_next();

  [[nodiscard]] ClientResult<proto::DevicesBody> get_devices() const;
  [[nodiscard]] ClientResult<proto::StatusBody> get_status() const;
  [[nodiscard]] ClientResult<proto::RefreshStartedBody> refresh_profile() const;
  // The plan as the answering daemon knows it (a follower: its own stage; the leader: the whole plan).
  [[nodiscard]] ClientResult<PlanInfo> get_plan() const;
  // Asks the daemon (the leader) to plan and deploy, or only plan; its answer is the plan.
  [[nodiscard]] ClientResult<PlanInfo> load(const LoadRequest& request,
                                            std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) const;
  // Sets the answering daemon's emulated speed; returns the speed it now runs at.
  [[nodiscard]] ClientResult<double> set_speed(double speed) const;
  // Asks the answering daemon to stop counting `device` (dead for good) towards its quorum; its answer's body.
  [[nodiscard]] ClientResult<proto::Json> remove_device(const std::string& device) const;

  // The leader's control endpoint, as the answering daemon knows it.
  [[nodiscard]] ClientResult<std::string> leader_endpoint() const;
  // The plan in force with the model's name (asked of the leader when the answering daemon is a follower).
  [[nodiscard]] ClientResult<HeadRef> current_head() const;

  // One request of `type` with `body`, answered by `expected`; the reply envelope.
  [[nodiscard]] ClientResult<proto::Envelope> call(proto::MessageType type, proto::MessageType expected,
                                                   proto::Json body, std::chrono::milliseconds timeout) const;

 private:
  std::vector<std::string> endpoints_;
  std::string from_;
  std::chrono::milliseconds timeout_;
};

}  // namespace ll::client
