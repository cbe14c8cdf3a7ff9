// ModelManager: deploys a model over the cluster. On the leader, load() plans a package with the placement solver
// and announces the plan (manifest, stages, data endpoints) to every device; it then serves the package's files to
// the devices that fetch them — only files the announced manifest names — and gathers their load progress. On every
// device, a plan received is queued for the loader thread, which fetches the files its stage needs (and its backup
// shards) into the content-addressed store, checks each against the manifest, loads its shard range and configures
// the StageServer.
// Thread-safety: all public methods are thread-safe (mutex_ guards the state; loader_mutex_ only the plan queue, never
// held with mutex_); fetching and loading run on the loader thread, which alone owns them; the load balancer's
// solver runs on the monitor thread with no lock held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "deploy/rebalancer.h"
#include "lingualinked/result.h"
#include "pipeline/shard_store.h"
#include "pipeline/stage_server.h"
#include "placement/heuristics.h"
#include "placement/problem.h"
#include "placement/solver.h"
#include "proto/data_messages.h"
#include "runtime/torch_runtime.h"

namespace ll::deploy {

struct ModelManagerOptions {
  std::string name;      // this device's name, as in plans
  std::string data_dir;  // the store lives in <data_dir>/shards
  RuntimeOptions runtime;
  RebalanceOptions rebalance;
};

struct LoadRequest {
  std::string package_dir;
  placement::Objective objective = placement::Objective::kLatency;
  uint64_t context = 0;  // 0: the model's
  std::string wire = "float32";
  bool dry_run = false;  // plan and report, deploy nothing
  // A peer rule instead of the solver (benchmarks compare them live); re-plans use the solver. nullopt: the solver.
  std::optional<placement::PeerRule> rule;
};

// The cluster as the leader sees it: the placement problem's devices, links and head, and each device's data
// endpoint (same order as problem.devices).
struct ClusterView {
  placement::PlacementProblem problem;
  std::vector<std::string> data_endpoints;
  uint64_t term = 0;
};

class ModelManager {
 public:
  ModelManager(ModelManagerOptions options, pipeline::StageServer& stage);
  ~ModelManager();
  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  [[nodiscard]] Status init();
  // The data endpoint peers should dial for this device (default: the StageServer's bound endpoint; differs when it
  // listens on a wildcard address).
  void set_advertised_endpoint(std::string endpoint);

  // Leader: plans `request.package_dir` over `cluster` and announces it (an empty package_dir: the model already
  // deployed, its files served from the devices' stores). Returns the plan as JSON.
  [[nodiscard]] Result<nlohmann::json> load(const LoadRequest& request, ClusterView cluster);

  // A newly elected leader takes over the model its predecessor deployed, from the plan every device received (the
  // manifest rides in it) and the files the devices hold; nothing in place is sent again. False: nothing to adopt,
  // or this device already owns the deployment.
  [[nodiscard]] bool adopt_deployed_model();
  // Whether this device is the leader: only a leader's load balancer may re-plan (a deposed leader is fenced).
  void set_leader(bool leader);
  // Leader: why the last re-plan failed ("" if it did not); shown by get_plan so clients stop waiting.
  void set_plan_error(std::string error);

  // Leader: whether a model was loaded here, and the devices its plan uses.
  [[nodiscard]] bool has_model() const;
  [[nodiscard]] std::vector<std::string> plan_devices() const;
  // Leader: plans the loaded package again over `cluster` (after a device was lost) and announces it.
  [[nodiscard]] Result<nlohmann::json> replan(ClusterView cluster);

  // Head: per-stage step times carried home by a token (the StageServer's on_stage_stats).
  void observe(uint64_t plan_version, const std::vector<proto::StageStat>& stats);

  // The StageServer's handler for plan, fetch and load_progress messages.
  std::optional<proto::DataMessage> on_message(const std::string& route, proto::DataMessage&& message);

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
  struct Progress {
    proto::LoadProgressMsg last;
    std::chrono::steady_clock::time_point first_seen;
    std::chrono::steady_clock::time_point updated;
  };
  // Leader: announces `plan` for the loaded package (mutex_ held by the caller for the state it reads).
  [[nodiscard]] Result<nlohmann::json> announce(const placement::PlacementProblem& problem, const placement::Plan& plan,
                                                uint64_t term);
  void monitor();  // leader: the load-balancing loop
  bool all_ready_locked() const;
  void apply_plan(proto::PlanMsg plan, std::string local_package_dir);
  void run_plan(const proto::PlanMsg& plan, const std::string& local_package_dir);
  void report(const proto::LoadProgressMsg& progress);
  std::optional<proto::DataMessage> serve_chunk(const proto::FetchMsg& fetch);
  void keep_standby_copies(const proto::PlanMsg& plan, const Manifest& manifest);
  void stop_worker();     // stops the loader thread (destruction)
  void changed_locked();  // the status changed (mutex_ held): wakes wait_for_status
  void loader();          // the loader thread: runs the newest queued plan

  const ModelManagerOptions options_;
  pipeline::StageServer& stage_;
  pipeline::ShardStore store_;
  zmq::context_t context_{1};

  mutable std::mutex mutex_;
  mutable std::condition_variable status_changed_;
  uint64_t changes_ = 0;    // counts status changes, under mutex_
  std::string advertised_;  // empty: the StageServer's endpoint
  // Leader side.
  uint64_t next_plan_version_ = 0;
  std::map<std::string, std::string> served_files_;  // sha256 -> path of a file the current plan announced
  std::map<std::string, Progress> progress_;         // device -> latest report
  nlohmann::json plan_json_;
  LoadRequest request_;                       // what was loaded
  std::vector<std::string> data_endpoints_;   // per device of problem_
  std::optional<proto::PlanMsg> local_plan_;  // the plan last announced, for this device to apply
  std::string local_dir_;
  std::string manifest_text_;
  std::string model_name_;
  placement::PlacementProblem problem_;      // the cluster with the speeds last used to plan
  std::vector<placement::StageSpan> spans_;  // the plan in force
  SlowdownDetector detector_{RebalanceOptions{}};
  nlohmann::json replans_ = nlohmann::json::array();
  std::thread monitor_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> leader_{false};
  std::string plan_error_;
  // Every device.
  std::optional<proto::PlanMsg> plan_;
  std::set<std::string> plan_files_;  // hashes of every file plan_'s manifest names (served from the store)
  std::string local_state_ = "idle";
  std::shared_ptr<ShardRange> loaded_range_;  // the range this device last loaded: the next plan reuses its modules
  struct PendingPlan {
    proto::PlanMsg plan;
    std::string local_dir;
  };
  std::mutex loader_mutex_;  // guards pending_ and loader_stopping_; taken after mutex_ is released, never inside it
  std::condition_variable loader_wake_;
  std::optional<PendingPlan> pending_;  // the newest plan not yet started
  bool loader_stopping_ = false;
  std::thread loader_;                            // started with the first plan
  std::atomic<bool> cancel_{false};               // the running plan is superseded (or the manager stops)
  std::unique_ptr<zmq::socket_t> leader_socket_;  // progress reports, owned by the worker
};

}  // namespace ll::deploy
