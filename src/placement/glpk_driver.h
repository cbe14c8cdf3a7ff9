// Shared GLPK plumbing for the placement MIPs: an owning pointer, a sparse row builder, and one call that solves
// the LP relaxation, then the MIP with a time limit, optionally starting from a known solution. Internal to
// src/placement. Thread-safe as long as each call uses its own glp_prob.
#pragma once

#include <glpk.h>

#include <chrono>
#include <memory>
#include <vector>

#include "lingualinked/result.h"

namespace ll::placement::glpk {

struct ProbDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};
using ProbPtr = std::unique_ptr<glp_prob, ProbDeleter>;

struct Row {
  std::vector<int> ind{0};  // GLPK arrays are 1-based
  std::vector<double> val{0};
  void add(int col, double v) {
    ind.push_back(col);
    val.push_back(v);
  }
};

void add_row(glp_prob* lp, const Row& row, int type, double lo, double hi);

struct Outcome {
  bool optimal = false;
  double seconds = 0;    // since `start`
  double objective = 0;  // glp_mip_obj_val
  double bound = 0;      // best proven lower bound (equals objective when optimal)
};

// Errors: "infeasible: ..." when the LP relaxation or the MIP has no feasible point; otherwise a GLPK failure or
// no integer solution within the time. `start_columns` (1-based, all columns) is handed to GLPK as an incumbent.
[[nodiscard]] Result<Outcome> solve(glp_prob* lp, double time_limit_s, std::chrono::steady_clock::time_point start,
                                    const std::vector<double>& start_columns);

}  // namespace ll::placement::glpk
