// Placement inputs and outputs: the shards of a model, the devices and the directed links between them, and a Plan
// (ordered stages, each a contiguous run of shards on one device). The cost model itself is in cost_model.h and
// docs/placement.md. Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lingualinked/result.h"
#include "model/manifest.h"

namespace ll::placement {

// The last stage sends the sampled token id (int32) back to the head device.
inline constexpr uint64_t kTokenIdBytes = 4;

enum class Objective { kLatency, kThroughput };
const char* objective_name(Objective objective);
[[nodiscard]] Result<Objective> parse_objective(const std::string& text);

struct Device {
  std::string name;
  uint64_t memory_bytes = 0;  // budget for weights + KV cache
  double flops = 0;           // FLOP/s
  // Measured seconds per token for each shard on this device (from running a real block), or empty. When it has one
  // entry per shard, entries >= 0 replace flops_per_token / flops for that shard.
  std::vector<double> shard_seconds;
};

struct Link {
  bool present = false;  // a missing link means the pair cannot talk
  double bandwidth_bytes_per_s = 0;
  double latency_s = 0;
};

struct PlacementProblem {
  std::vector<ShardInfo> shards;  // model order
  uint64_t context = 0;           // tokens of KV cache reserved per session
  uint64_t sessions = 1;          // generations in flight at once: each stage reserves `context` tokens of KV for each
  std::vector<Device> devices;
  int head = 0;                          // index of the device that tokenizes; always runs the first stage
  std::vector<std::vector<Link>> links;  // links[from][to], devices.size() squared
  // Costs the leader calibrates from a running plan (calibration.h); 0 from the start-up profile. Each message
  // between two devices (serialising, ZeroMQ, the receiver waking up) costs hop_overhead_s on top of its link; each
  // token costs the head step_overhead_s (sampling, streaming, scheduling the next step).
  double hop_overhead_s = 0;
  double step_overhead_s = 0;

  int num_shards() const { return static_cast<int>(shards.size()); }
  int num_devices() const { return static_cast<int>(devices.size()); }
  const Link& link(int from, int to) const { return links[from][to]; }
  void set_link(int from, int to, double bandwidth_bytes_per_s, double latency_s);
};

// Checks sizes and values (positive FLOP/s, bandwidth, head index, links matrix shape, shard_seconds length).
[[nodiscard]] Status validate_problem(const PlacementProblem& problem);

// A plan as the solver sees it: device and inclusive shard range per stage, in ring order.
struct StageSpan {
  int device = 0;
  int first_shard = 0;
  int last_shard = 0;
};

struct Stage {
  int device = 0;
  int first_shard = 0;
  int last_shard = 0;    // inclusive
  int next_device = -1;  // where its output goes; -1 when the plan has a single stage
  double compute_s = 0;
  double transfer_s = 0;
  uint64_t bytes_sent_per_token = 0;
  uint64_t memory_used_bytes = 0;  // weights + KV cache of its own shards
  uint64_t backup_bytes = 0;       // spare memory filled with backup copies
  std::vector<int> backup_shards;  // copies of neighbouring shards held in spare memory
  double overhead_s = 0;           // the head stage: the problem's step_overhead_s
  double time_s() const { return compute_s + transfer_s + overhead_s; }
};

struct Plan {
  Objective objective = Objective::kLatency;
  std::vector<Stage> stages;
  double latency_s = 0;     // sum of stage times: one stream's time per token
  double bottleneck_s = 0;  // max stage time: a full pipeline's time per token
  std::string solver;       // "glpk-mip", "dp", "rule:equal", ...
  std::string status;       // "optimal", "feasible (time limit)", "evaluated"
  bool optimal = false;
  double solve_seconds = 0;
  double solver_objective_s = 0;  // the objective value the solver itself reported (MIP: from GLPK)
  double solver_bound_s = 0;      // MIP: best proven lower bound (equal to the objective when optimal)
  std::string cost_source;        // "flops" or "measured" (per-shard timings used for at least one device)
  std::string note;               // e.g. the DP cross-check result

  double objective_value() const { return objective == Objective::kLatency ? latency_s : bottleneck_s; }
  std::vector<StageSpan> spans() const;
};

}  // namespace ll::placement
