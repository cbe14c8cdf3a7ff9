// The placement mixed-integer program, solved with GLPK (glp_intopt, time-limited, silent). Formulation in
// docs/placement.md: x[i][d] (shard i on device d), a flow w[i][a][b] between consecutive shards whose a != b terms
// are the stage boundaries (they carry the transfer cost), one entry per device (contiguity, distinct devices),
// memory rows, and an epigraph variable for the max. Thread-safe: each call builds its own glp_prob.
#pragma once

#include <optional>

#include "lingualinked/result.h"
#include "placement/problem.h"

namespace ll::placement {

struct MipOptions {
  double time_limit_s = 10;
  std::optional<Plan> incumbent;  // a feasible plan handed to GLPK as its first solution
};

// Returns the best plan GLPK found, with status "optimal" or "feasible (time limit)", solver_objective_s and
// solver_bound_s. Errors: "infeasible: ..." when no placement exists, or GLPK failed / found nothing in time.
[[nodiscard]] Result<Plan> solve_mip(const PlacementProblem& problem, Objective objective, const MipOptions& options);

}  // namespace ll::placement
