// The placement cost model (docs/placement.md), shared by the MIP, the exact DP, the peer rules and the tests, so
// every plan is priced by the same code. Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "lingualinked/result.h"
#include "placement/problem.h"

namespace ll::placement {

// Seconds per token of shard i on device d: measured if available, else flops_per_token / flops.
[[nodiscard]] double shard_seconds(const PlacementProblem& p, int shard, int device);

// True if any device carries per-shard measurements.
[[nodiscard]] bool uses_measured_times(const PlacementProblem& p);

// Memory a shard needs where it runs: weights + kv_bytes_per_token x context.
[[nodiscard]] uint64_t shard_memory(const PlacementProblem& p, int shard);

// Bytes a stage sends per token when its run ends at `last_shard` (the token id for the model's last shard).
[[nodiscard]] uint64_t stage_output_bytes(const PlacementProblem& p, int last_shard);

// bytes / bandwidth + latency over link from -> to, plus the calibrated hop overhead (the link must be present).
[[nodiscard]] double transfer_seconds(const PlacementProblem& p, int from, int to, uint64_t bytes);

// Prices a plan given as spans. Errors if it breaks a rule: empty, first stage not on the head or not at shard 0,
// gaps/overlaps, a device used twice, memory over budget, a missing link (including last stage -> head).
[[nodiscard]] Result<Plan> evaluate_plan(const PlacementProblem& p, const std::vector<StageSpan>& spans,
                                         Objective objective);

// True if swapping the runs of d1 and d2 in any plan gives a plan of the same cost (neither is the head; same
// budget, speed, timings and links). The MIPs use it to break symmetry.
[[nodiscard]] bool interchangeable(const PlacementProblem& p, int d1, int d2);

}  // namespace ll::placement
