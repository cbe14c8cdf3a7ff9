// Serving: the daemon's data plane — its StageServer and ModelManager — and the client commands that reach them
// through the control plane (load, get_plan, set_speed). Thread-safety: construct and register on the main thread;
// command handlers run on the node's thread; plans are solved on the planner's thread and answered from there
// (a deferred command); StageServer and ModelManager are thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "cluster/node.h"
#include "deploy/deploy_server.h"
#include "deploy/model_manager.h"
#include "pipeline/stage_server.h"

namespace ll::daemon {

struct ServingOptions {
  std::string name;
  std::string data_listen;    // tcp://HOST:PORT, or tcp://HOST:* for a free port
  std::string deploy_listen;  // plans and file transfers; "": the data endpoint's host, a free port
  std::string data_dir;
  int threads = 0;
  double emulate_speed = 1.0;
  int prefill_chunk = 0;
  pipeline::LinkShape emulate_egress;
  bool rebalance = true;
  double rebalance_cooldown_s = 5;
  std::string model;         // loaded by the leader at start
  int max_sessions = 1;      // a load request that does not say: generations in flight at once (KV reserved)
  bool choose_head = false;  // plans put the head where the solver finds it best (false: on the leader)
  // Head: speculative decoding for generations that do not choose, and the draft model opened at start (or null).
  SpeculationOptions speculation;
  std::shared_ptr<Drafter> draft_model;
};

class Serving {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Serving>> start(const ServingOptions& options);
  ~Serving();
  const std::string& data_endpoint() const { return stage_->endpoint(); }
  const std::string& deploy_endpoint() const { return deploy_->endpoint(); }
  // How long the compute step in progress has run (0 when idle): the step watchdog's input.
  [[nodiscard]] double current_step_ms() const { return stage_->current_step_ms(); }
  void set_advertised_deploy_endpoint(const std::string& endpoint) { manager_->set_advertised_endpoint(endpoint); }

  // Registers load, get_plan and set_speed on the node's dispatcher.
  void register_commands(cluster::Node& node);
  // Called from the main loop on the node's thread: loads --model once this device leads a settled cluster.
  void tick(cluster::Node& node);

 private:
  Serving() = default;
  // A load command checked and turned into a request over the cluster as the node sees it (node's thread).
  struct PreparedLoad {
    deploy::LoadRequest request;
    deploy::ClusterView cluster;
  };
  [[nodiscard]] Result<PreparedLoad> prepare_load(cluster::Node& node, const proto::Json& body);
  [[nodiscard]] Result<deploy::ClusterView> cluster_view(const cluster::Node& node) const;
  // Leader: a device of the plan died — re-plan over the survivors; sessions replay on the new ring.
  void recover_lost_devices(cluster::Node& node);

  ServingOptions options_;
  std::unique_ptr<pipeline::StageServer> stage_;
  std::unique_ptr<deploy::DeployServer> deploy_;
  std::unique_ptr<deploy::ModelManager> manager_;
  std::atomic<deploy::ModelManager*> manager_ready_{nullptr};  // manager_ once initialised: what the data thread sees
  std::atomic<bool> stopping_{false};  // planner answers arriving while the daemon stops are dropped
  bool model_loaded_ = false;
  uint64_t recovered_version_ = 0;  // the plan already re-made after losing one of its devices
  std::chrono::steady_clock::time_point leader_since_{};
};

}  // namespace ll::daemon
