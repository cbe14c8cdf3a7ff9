// PlanInfo: the `plan_info` reply (docs/protocol.md; the answer to `get_plan` and `load`) as a type, read and checked
// once here so that no caller reads it by key. Fields a daemon leaves out (a follower has no predictions, an adopted
// plan no stage list, a dry run no head) keep their defaults; a field of the wrong kind makes the whole reply
// malformed. Thread-safety: value types and a stateless parser.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/client_error.h"
#include "proto/json_fields.h"

namespace ll::client {

struct PlanStage {
  std::string device;
  int64_t first_shard = 0;
  int64_t last_shard = 0;
  std::string layers;
  uint64_t memory_used_bytes = 0;
  uint64_t memory_budget_bytes = 0;
  double compute_s = 0;
  double transfer_s = 0;
  uint64_t bytes_sent_per_token = 0;
  std::vector<int64_t> backup_shards;
};

// One device's deployment progress (load).
struct DeviceProgress {
  std::string device;
  std::string state;  // planned | fetching | loading | ready | failed ...
  std::string error;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_from_cache = 0;
  double rate_bytes_per_s = 0;
};

struct Replan {
  uint64_t from_version = 0;
  std::optional<uint64_t> to_version;  // none: the plan was kept
  std::string reason;
};

// The answering daemon's own stage counters.
struct StageCounters {
  uint64_t plan_version = 0;
  uint64_t open_sessions = 0;
  uint64_t steps = 0;
  uint64_t batched_steps = 0;
  uint64_t tokens_generated = 0;
  uint64_t replayed_sessions = 0;
  double compute_ms_avg = 0;
  uint64_t queue_depth = 0;
  double emulated_speed = 1;
  std::map<std::string, uint64_t> bytes_sent;  // by the receiving stage's data endpoint
};

struct PlanInfo {
  uint64_t version = 0;  // 0: no plan
  uint64_t term = 0;
  std::string model;               // "" on a follower (the leader planned it) or without a plan
  std::string head_data_endpoint;  // where generations go; "" without a plan
  std::string error;               // the leader could not re-plan (the cluster cannot continue)
  bool dry_run = false;
  std::string objective;
  std::optional<double> predicted_s_per_token;  // the leader's prediction; none on a follower
  double one_stream_s_per_token = 0;
  double pipeline_s_per_token = 0;
  std::string solver;
  std::string status;
  double solve_seconds = 0;
  std::string cost_source;
  // "start-up profile", or "calibrated from N one-stream decode steps of this plan" (docs/placement.md); the
  // prediction the plan was made with, when calibration changed it since.
  std::string prediction_source;
  std::optional<double> planned_s_per_token;
  std::vector<PlanStage> stages;
  std::vector<double> observed_stage_ms;  // per stage; 0 while not observed
  std::vector<DeviceProgress> devices;
  std::vector<Replan> replans;
  std::optional<StageCounters> stage;
  proto::Json raw;  // the reply as received, for printing it whole (llctl plan --json) and the topology document
};

// Reads and checks a plan_info body.
[[nodiscard]] ClientResult<PlanInfo> parse_plan_info(const proto::Json& body);

}  // namespace ll::client
