// ModelManager: one device's part in deploying a model, composed of three pieces with a thread or lock each:
// the Planner (leader side: plans, announces, gathers progress, re-plans; planner.h), the DeviceLoader (every
// device: fetches, verifies and loads what a plan gives it; device_loader.h) and the FileServer (answers fetches with
// chunks of the files a plan names; file_server.h). It routes the deploy endpoint's messages (deploy_server.h) to
// them and joins their status for `llctl plan`.
// Thread-safety: all public methods are thread-safe. No lock of one piece is held while calling another.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "deploy/device_loader.h"
#include "deploy/file_server.h"
#include "deploy/plan_fence.h"
#include "deploy/planner.h"
#include "deploy/rebalancer.h"
#include "deploy/stats_forwarder.h"
#include "deploy/status_signal.h"
#include "lingualinked/result.h"
#include "net/transport.h"
#include "pipeline/shard_store.h"
#include "pipeline/stage_server.h"
#include "proto/data_messages.h"
#include "runtime/torch_runtime.h"

namespace ll::deploy {

struct ModelManagerOptions {
  std::string name;             // this device's name, as in plans
  std::string data_dir;         // the store lives in <data_dir>/shards
  std::string deploy_endpoint;  // where this device's DeployServer listens (bound; see set_advertised_endpoint)
  RuntimeOptions runtime;
  RebalanceOptions rebalance;
};

class ModelManager {
 public:
  ModelManager(ModelManagerOptions options, pipeline::StageServer& stage);
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  [[nodiscard]] Status init();
  // The deploy endpoint peers should dial for this device (default: the bound one; differs when it listens on a
  // wildcard address).
  void set_advertised_endpoint(std::string endpoint);

  // Leader: plans `request.package_dir` over `cluster` on the planner thread and announces it; `done` gets the plan
  // as JSON there. The caller's thread (the node's) goes on meanwhile.
  void load_async(const LoadRequest& request, ClusterView cluster, Planner::Done done);
  // Leader: plans the loaded package again over `cluster` (after a device was lost), on the planner thread.
  void replan_async(ClusterView cluster, Planner::Done done);
  // The same, waiting for the answer (tests and tools).
  [[nodiscard]] Result<nlohmann::json> load(const LoadRequest& request, ClusterView cluster);
  [[nodiscard]] Result<nlohmann::json> replan(ClusterView cluster);

  // A newly elected leader takes over the model its predecessor deployed (Planner::adopt).
  [[nodiscard]] bool adopt_deployed_model();
  void set_leader(bool leader);
  void set_plan_error(std::string error);
  [[nodiscard]] bool has_model() const;
  [[nodiscard]] std::vector<std::string> plan_devices() const;

  // Head: per-stage step times carried home by a token (the StageServer's on_stage_stats).
  void observe(uint64_t plan_version, uint64_t session, const std::vector<proto::StageStat>& stats);
  // The node's view of the cluster, for the plan fence (plan_fence.h): call on every change of term or leader.
  void set_term(uint64_t term, std::string leader, std::string leader_key);
  // The DeployServer's handler for plan, fetch and load_progress messages, sent by `sender` (a device).
  std::optional<proto::DataMessage> on_message(const net::Sender& sender, proto::DataMessage&& message);

  // Snapshots: the current plan with every device's progress; the head's data endpoint ("" before any plan).
  [[nodiscard]] nlohmann::json status_json() const;
  // Waits until `ready(status_json())` holds (true) or `timeout` passes (false), waking on every change of the
  // status (a device's progress, this device's state, a re-plan, an error) instead of polling.
  [[nodiscard]] bool wait_for_status(const std::function<bool(const nlohmann::json&)>& ready,
                                     std::chrono::milliseconds timeout) const;
  [[nodiscard]] std::string head_data_endpoint() const;
  [[nodiscard]] uint64_t plan_version() const;
  [[nodiscard]] std::string local_state() const;  // this device: idle | fetching | loading | ready | failed

 private:
  [[nodiscard]] std::string own_endpoint() const;

  const ModelManagerOptions options_;
  pipeline::StageServer& stage_;
  pipeline::ShardStore store_;
  StatusSignal signal_;
  mutable std::mutex endpoint_mutex_;  // guards advertised_ only
  std::string advertised_;             // empty: options_.deploy_endpoint
  // Destroyed in reverse: the planner (whose thread applies plans to the loader) before the loader.
  PlanFence fence_;
  std::atomic<uint64_t> fenced_plans_{0};  // plans refused or held, for rate-limited logging
  std::unique_ptr<DeviceLoader> loader_;
  std::unique_ptr<FileServer> files_;
  std::unique_ptr<Planner> planner_;
  std::atomic<bool> leader_{false};
  StatsForwarder forwarder_;  // the head's step figures to the leader, when the head is not the leader
};

}  // namespace ll::deploy
