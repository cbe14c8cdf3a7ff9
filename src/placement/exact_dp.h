// Exact dynamic program over (next shard, next device, set of devices used). Exponential in the number of devices,
// so it is the fallback and the cross-check of the MIP for small clusters (up to kMaxDpDevices). Thread-safe.
#pragma once

#include <cstdint>

#include "lingualinked/result.h"
#include "placement/problem.h"

namespace ll::placement {

inline constexpr int kMaxDpDevices = 12;
inline constexpr int64_t kMaxDpStates = int64_t{8} << 20;  // ~20 bytes each

// The optimal plan for `objective`; for throughput, ties on the bottleneck are broken by a lower sum (best effort).
// Errors: too many devices, or no feasible plan ("infeasible: ..." prefix).
[[nodiscard]] Result<Plan> solve_exact_dp(const PlacementProblem& problem, Objective objective);

}  // namespace ll::placement
