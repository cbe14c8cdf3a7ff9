// Placement heuristics and the peer rules. `solve_ordered_dp` is exact for a fixed order of devices (each may be
// skipped); the solver uses its best result as the MIP's first incumbent. The peer rules (equal split,
// memory-proportional, FLOP/s-proportional) put all devices in the given order, head first, as other systems do.
// Stateless; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "lingualinked/result.h"
#include "placement/problem.h"

namespace ll::placement {

// Best plan that visits devices in `order` (order[0] must be the head), skipping any. O(n^2 d^2).
[[nodiscard]] Result<Plan> solve_ordered_dp(const PlacementProblem& problem, const std::vector<int>& order,
                                            Objective objective);

// Best of solve_ordered_dp over a few natural orders (given, by FLOP/s, by memory, by link speed from the head).
[[nodiscard]] Result<Plan> heuristic_plan(const PlacementProblem& problem, Objective objective);

enum class PeerRule { kEqual, kMemory, kFlops };
const char* peer_rule_name(PeerRule rule);

struct RuleResult {
  PeerRule rule = PeerRule::kEqual;
  std::vector<StageSpan> spans;                     // what the rule proposes
  Result<Plan> plan = make_error("not evaluated");  // priced under the same cost model, or why it is invalid
};

// Splits the shards over all devices (head first, then the others in the given order) in proportion to 1, memory
// or FLOP/s (largest remainder, at least one shard each while shards last), then prices the split.
[[nodiscard]] RuleResult apply_peer_rule(const PlacementProblem& problem, PeerRule rule, Objective objective);

}  // namespace ll::placement
