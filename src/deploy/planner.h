// Planner: the leader's side of a deployment, on a thread of its own. It plans a package with the placement solver
// (or a peer rule), announces the plan to every device, gathers their load progress, re-plans when a device is lost
// and, when load balancing is on, when a stage stays slower than planned. Every solve — GLPK's time limit, then the
// exact DP — runs on the planner thread with no lock held, so tokens, heartbeats and plan messages go on meanwhile;
// its result is posted back to whoever asked (load_async) and committed only if the plan it started from is still
// the one in force.
// Thread-safety: all public methods are thread-safe; mutex_ guards the leader state and is never held while solving,
// sending, or calling a hook.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "deploy/calibration.h"
#include "deploy/rebalancer.h"
#include "deploy/status_signal.h"
#include "lingualinked/result.h"
#include "placement/heuristics.h"
#include "placement/problem.h"
#include "placement/solver.h"
#include "proto/data_messages.h"

namespace ll::deploy {

struct LoadRequest {
  std::string package_dir;
  placement::Objective objective = placement::Objective::kLatency;
  uint64_t context = 0;  // 0: the model's
  std::string wire = "float32";
  int max_sessions = static_cast<int>(proto::kDefaultPlanSessions);  // generations in flight at once (KV reserved)
  bool dry_run = false;                                              // plan and report, deploy nothing
  bool choose_head = false;  // the solver chooses the head device; false: the head stays on this leader
  // A peer rule instead of the solver (benchmarks compare them live); re-plans use the solver. nullopt: the solver.
  std::optional<placement::PeerRule> rule;
};

// The cluster as the leader sees it: the placement problem's devices, links and head, and each device's data and
// deploy endpoints (same order as problem.devices).
struct ClusterView {
  placement::PlacementProblem problem;
  std::vector<std::string> data_endpoints;
  std::vector<std::string> deploy_endpoints;
  uint64_t term = 0;
};

// How the planner reaches this device.
struct PlannerHooks {
  std::function<std::string()> own_endpoint;  // this device's deploy endpoint (the plan's leader endpoint)
  // This device applies a plan it announced (with the package folder that holds the files, "" for an adopted one).
  std::function<void(proto::PlanMsg plan, std::string package_dir)> apply_locally;
  std::function<uint64_t()> head_tokens_generated;  // for the re-plan history
};

class Planner {
 public:
  using Done = std::function<void(Result<nlohmann::json>)>;

  Planner(std::string name, RebalanceOptions rebalance, StatusSignal& signal, PlannerHooks hooks);
  ~Planner();  // stop()
  // Stops the thread (a job in progress finishes); jobs not started are answered with an error. The other methods
  // stay usable.
  void stop();
  Planner(const Planner&) = delete;
  Planner& operator=(const Planner&) = delete;

  // Plans `request.package_dir` over `cluster` and announces it (an empty package_dir: the model already deployed,
  // its files served from the devices' stores). `done` gets the plan as JSON, on the planner thread.
  void load_async(LoadRequest request, ClusterView cluster, Done done);
  // Plans the loaded package again over `cluster` (after a device was lost).
  void replan_async(ClusterView cluster, Done done);

  // A newly elected leader takes over the model its predecessor deployed, from the plan this device holds. False:
  // nothing to adopt, or this device already owns the deployment.
  [[nodiscard]] bool adopt(const std::optional<proto::PlanMsg>& held);
  // A plan of another leader arrived: a deployment older than it is no longer this device's to manage.
  void forget_if_older_than(uint64_t plan_version);
  // Only a leader's load balancer re-plans (a deposed leader is fenced).
  void set_leader(bool leader) { leader_ = leader; }
  // The node's current term: a re-plan of an adopted plan is announced in it, so that it fences off the leader
  // the plan was adopted from (plan_fence.h).
  void set_term(uint64_t term) { term_ = term; }
  void set_plan_error(std::string error);

  // A device's progress on the current plan (other versions are ignored).
  void report(const proto::LoadProgressMsg& progress);
  // Head: per-stage step times carried home by a token of `session` (load balancing and calibration).
  void observe(uint64_t plan_version, uint64_t session, const std::vector<proto::StageStat>& stats);
  // The leader's own head: waits until every other stage of `version` is ready (true), one failed (error), or
  // `cancel` is set (false). Wakes on each report.
  [[nodiscard]] Result<bool> wait_for_other_stages(uint64_t version, const std::atomic<bool>& cancel) const;

  [[nodiscard]] bool has_model() const;
  [[nodiscard]] std::vector<std::string> plan_devices() const;
  // The path of a file the current plan announced from the leader's package folder ("" if none).
  [[nodiscard]] std::string served_path(const std::string& sha256) const;
  // The plan JSON, re-plan history, error and every device's progress (ModelManager::status_json adds the rest).
  [[nodiscard]] nlohmann::json status_json() const;

 private:
  struct Progress {
    proto::LoadProgressMsg last;
    std::chrono::steady_clock::time_point first_seen;
    std::chrono::steady_clock::time_point updated;
  };
  struct Job {
    std::optional<LoadRequest> request;  // nullopt: a re-plan of what is loaded
    ClusterView cluster;
    Done done;
  };
  // A plan ready to be sent, built under mutex_ and sent after it is released.
  struct Announcement {
    proto::PlanMsg plan;
    std::vector<std::string> recipients;
    std::string package_dir;
    nlohmann::json summary;
  };
  void run();
  Result<nlohmann::json> run_job(Job& job);
  void rebalance_once();
  Announcement announce_locked(const placement::PlacementProblem& problem, const placement::Plan& plan, uint64_t term);
  void deliver(Announcement announcement);
  bool all_ready_locked() const;
  // The plan in force re-priced with the calibrated costs, into plan_json_ (after a calibration window).
  void refresh_prediction_locked();

  const std::string name_;
  const RebalanceOptions rebalance_;
  StatusSignal& signal_;
  const PlannerHooks hooks_;
  zmq::context_t context_{1};

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // a job, or stop
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::atomic<bool> leader_{false};
  std::atomic<uint64_t> term_{0};
  uint64_t next_plan_version_ = 0;
  std::map<std::string, std::string> served_files_;  // sha256 -> path of a file the current plan announced
  std::map<std::string, Progress> progress_;         // device -> latest report
  nlohmann::json plan_json_;
  LoadRequest request_;                        // what was loaded
  std::vector<std::string> data_endpoints_;    // per device of problem_
  std::vector<std::string> deploy_endpoints_;  // per device of problem_
  std::optional<proto::PlanMsg> local_plan_;   // the plan last announced
  std::string manifest_text_;
  std::string model_name_;
  placement::PlacementProblem problem_;   // the cluster with the speeds last used to plan
  placement::PlacementProblem profiled_;  // the same as the start-up profile priced it (no calibration)
  Calibrator calibrator_;
  std::vector<placement::StageSpan> spans_;  // the plan in force
  SlowdownDetector detector_{RebalanceOptions{}};
  nlohmann::json replans_ = nlohmann::json::array();
  std::string plan_error_;
  std::thread thread_;
};

}  // namespace ll::deploy
