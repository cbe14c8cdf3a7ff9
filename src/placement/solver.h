// solve_placement: the entry point the CLI and the daemon call. Checks the inputs, explains infeasibility in one
// line, runs the GLPK MIP (seeded with a heuristic plan), falls back to the exact DP when GLPK does not prove
// optimality and the cluster is small, cross-checks small instances against the DP, optionally chooses the head
// device the same way (one solve per candidate), and fills spare memory with backup shards. Thread-safe (no shared
// state).
#pragma once

#include "lingualinked/result.h"
#include "placement/problem.h"

namespace ll::placement {

enum class Method { kAuto, kMip, kDp };

struct SolveOptions {
  Objective objective = Objective::kLatency;
  Method method = Method::kAuto;
  double time_limit_s = 2;          // for GLPK; the DP fallback then runs if the cluster is small enough
  int cross_check_max_devices = 8;  // run the exact DP too (and keep the better plan) up to this many devices
  bool backups = true;
  // Throughput: time for a second GLPK solve that lowers the one-stream latency among plans with the optimal
  // bottleneck (0: skip). The plan's note says when it changed the plan.
  double tie_break_s = 1.0;
  // The head (the device that tokenizes, samples and runs stage 0) is a decision too: every device that can hold
  // shard 0 is tried, and the best plan wins. problem.head is the incumbent (today's head, or the leader): it keeps
  // the head unless another device's plan is better by more than head_margin (a moved head makes every client
  // resume its generation there).
  bool choose_head = false;
  double head_margin = 0.05;
};

[[nodiscard]] Result<Plan> solve_placement(const PlacementProblem& problem, const SolveOptions& options);

// Quick necessary checks (total memory of the devices that can join a ring, largest shard vs. largest device).
// Returns an "infeasible: ... missing" error or Ok; Ok does not guarantee a plan exists.
[[nodiscard]] Status check_memory(const PlacementProblem& problem);

// Fills each stage device's spare memory with copies of the shards next to its run, nearest first, alternating
// left and right; a side stops at the first shard that does not fit, so backups stay contiguous with the run.
[[nodiscard]] Plan add_backup_shards(const PlacementProblem& problem, Plan plan);

}  // namespace ll::placement
