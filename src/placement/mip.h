// The placement mixed-integer programs, solved with GLPK (glp_intopt, time-limited, silent). Two formulations, both
// in docs/placement.md; both model order, contiguity, device selection, memory, links and the linearised max.
// Thread-safe: each call builds its own glp_prob.
#pragma once

#include <optional>

#include "lingualinked/result.h"
#include "placement/problem.h"

namespace ll::placement {

// kRuns: one binary per (device, memory-feasible run of shards) — a much tighter relaxation, the default.
// kAssignment: x[i][d] per shard and device, with a flow between consecutive shards — compact, kept as a second,
// independent formulation that the tests also check against brute force.
enum class Formulation { kRuns, kAssignment };

struct MipOptions {
  double time_limit_s = 10;
  Formulation formulation = Formulation::kRuns;
  double first_solve_s = 0.3;  // runs + throughput: time for the plain solve before bisection (0: bisect only)
  std::optional<Plan> incumbent;
  double stage_cap_s = 1e300;  // runs formulation: every stage at most this long (for the throughput tie-break)  // a
                               // feasible plan handed to GLPK as its first solution
};

// Returns the best plan GLPK found, with status "optimal" or "feasible (time limit)", solver_objective_s and
// solver_bound_s. Errors: "infeasible: ..." when no placement exists, or GLPK failed / found nothing in time.
[[nodiscard]] Result<Plan> solve_mip(const PlacementProblem& problem, Objective objective, const MipOptions& options);

[[nodiscard]] Result<Plan> solve_mip_assignment(const PlacementProblem& problem, Objective objective,
                                                const MipOptions& options);  // mip.cc
[[nodiscard]] Result<Plan> solve_mip_runs(const PlacementProblem& problem, Objective objective,
                                          const MipOptions& options);  // mip_runs.cc

}  // namespace ll::placement
