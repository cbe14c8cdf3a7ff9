// DeviceLoader: what every device does with a plan. A plan received is queued; the loader's own thread runs the
// newest one: it fetches the files its stage needs into the content-addressed store (from the leader, else from the
// other stages), checks each against the manifest, loads its shard range, configures the StageServer and reports
// its progress to the leader; a device outside the ring keeps its standby copies instead. A cached file that no
// longer hashes to its name fails the load; the loader then deletes it, fetches it again and retries, once. A newer
// plan cancels the one running (fetches stop at once; a shard load in progress finishes). Callers never wait for a
// load. Thread-safety: all public methods are thread-safe; fetching and loading run on the loader thread alone, which
// alone owns the worker state. mutex_ guards the plan and state; queue_mutex_ the queue; never both at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "deploy/status_signal.h"
#include "pipeline/shard_store.h"
#include "pipeline/stage_server.h"
#include "proto/data_messages.h"
#include "runtime/torch_runtime.h"

namespace ll::deploy {

// How the loader reaches the rest of the deployment.
struct LoaderHooks {
  // This device's deploy endpoint as peers dial it (the leader compares it with the plan's leader).
  std::function<std::string()> own_endpoint;
  // The leader's own device: a progress report that goes to the local planner rather than over the network.
  std::function<void(const proto::LoadProgressMsg&)> report_locally;
  // The leader's own device, as the head of a new ring: waits until every other stage of plan `version` is ready
  // (true), one failed ("" when none; returned as the error), or `cancel` is set. Wakes on progress, never polls.
  std::function<Result<bool>(uint64_t version, const std::atomic<bool>& cancel)> wait_for_other_stages;
};

class DeviceLoader {
 public:
  DeviceLoader(std::string name, RuntimeOptions runtime, pipeline::ShardStore& store, pipeline::StageServer& stage,
               StatusSignal& signal, LoaderHooks hooks);
  ~DeviceLoader();  // cancels and joins the loader thread
  DeviceLoader(const DeviceLoader&) = delete;
  DeviceLoader& operator=(const DeviceLoader&) = delete;

  // Queues `plan` (the leader's own: with the package folder that holds its files). An older plan than the newest
  // one seen is ignored; false when it was.
  bool apply(proto::PlanMsg plan, std::string local_package_dir);

  // The newest plan this device took (nullopt before any).
  [[nodiscard]] std::optional<proto::PlanMsg> plan() const;
  [[nodiscard]] uint64_t plan_version() const;
  // The leader's deploy endpoint of plan `version` if it is the plan in force, else "" (no copy of the plan: the
  // head calls it for every step when it forwards its figures).
  [[nodiscard]] std::string leader_deploy_endpoint(uint64_t version) const;
  // Whether `sha256` is a file of the plan this device holds (it serves those from its store to peers).
  [[nodiscard]] bool plan_names(const std::string& sha256) const;
  [[nodiscard]] std::string state() const;  // idle | fetching | loading | waiting | ready | failed

 private:
  struct Queued {
    proto::PlanMsg plan;
    std::string local_dir;
  };
  void run();  // the loader thread
  void run_plan(const proto::PlanMsg& plan, const std::string& local_dir);
  void keep_standby_copies(const proto::PlanMsg& plan, const Manifest& manifest);
  void set_state(const std::string& state);

  const std::string name_;
  const RuntimeOptions runtime_;
  pipeline::ShardStore& store_;
  pipeline::StageServer& stage_;
  StatusSignal& signal_;
  const LoaderHooks hooks_;
  zmq::context_t context_{1};

  mutable std::mutex mutex_;  // guards plan_, plan_files_, state_
  std::optional<proto::PlanMsg> plan_;
  std::set<std::string> plan_files_;
  std::string state_ = "idle";

  std::mutex queue_mutex_;  // guards queued_ and stopping_
  std::condition_variable wake_;
  std::optional<Queued> queued_;  // the newest plan not yet started
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // the running plan is superseded (or the loader stops)
  std::thread thread_;               // started with the first plan

  // Loader thread only.
  std::shared_ptr<ShardRange> loaded_range_;  // the range last loaded: the next plan reuses its modules
};

}  // namespace ll::deploy
