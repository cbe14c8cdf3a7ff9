// The run formulation of the placement MIP. Columns (1-based):
//   r[q]        binary  run q = (device d, shards j..k) is a stage; only runs that fit d's memory, start at shard 0
//                       exactly when d is the head, can reach the head if they end the model, and (given an
//                       incumbent) are not slower on their own than the incumbent's objective
//   v[k][d][e]  [0,1]   the stage ending at shard k is on d and the next one, starting at k+1, on e (needs a link)
//   u[d]        binary  device d holds a stage
//   T[d]        >= 0    stage time of d in milliseconds; tau >= every T[d] for throughput
// Rows: every shard covered by exactly one run; one run per device (= u[d]); a run ending at k on d leaves through
// exactly one v[k][d][.], a run starting at k+1 on e is entered through exactly one v[k][.][e]; the stage time
// definitions; symmetry breaking between interchangeable devices. Thread-safe (local state only).
#include <algorithm>
#include <chrono>
#include <vector>

#include "placement/cost_model.h"
#include "placement/glpk_driver.h"
#include "placement/mip.h"

namespace ll::placement {
namespace {

constexpr double kScale = 1e3;                  // milliseconds
constexpr double kRelGap = 1.5e-6;              // "optimal" for the throughput bisection
constexpr int64_t kMaxCoverNonzeros = 3000000;  // beyond this the assignment formulation is used

struct Run {
  int device, first, last;
  double compute_ms;
};

// One GLPK solve. Runs slower on their own than `cutoff_s` are left out, and for throughput tau <= cutoff_s, so
// the result is optimal among plans whose stages all take at most cutoff_s (and infeasible if there are none).
Result<Plan> solve_runs_once(const PlacementProblem& p, Objective objective, const MipOptions& options,
                             double cutoff_s) {
  const auto start = std::chrono::steady_clock::now();
  const int n = p.num_shards();
  const int nd = p.num_devices();
  const int head = p.head;
  using glpk::Row;

  const double cutoff = std::min(cutoff_s, options.stage_cap_s) * kScale;
  const double stage_cap = options.stage_cap_s * kScale;
  // Cheapest way out of a run ending at shard k on device d (0 for a single stage on the head).
  auto cheapest_exit_ms = [&](int d, int k) {
    if (k == n - 1) {
      if (d == head) return 0.0;
      return p.link(d, head).present ? transfer_seconds(p, d, head, kTokenIdBytes) * kScale : 1e300;
    }
    double best = 1e300;
    for (int e = 0; e < nd; ++e) {
      if (e == d || e == head || !p.link(d, e).present) continue;
      best = std::min(best, transfer_seconds(p, d, e, stage_output_bytes(p, k)) * kScale);
    }
    return best;
  };

  std::vector<Run> runs;
  int64_t cover_nonzeros = 0;
  for (int d = 0; d < nd; ++d) {
    for (int j = (d == head ? 0 : 1); j < (d == head ? 1 : n); ++j) {
      double compute = 0;
      uint64_t memory = 0;
      for (int k = j; k < n; ++k) {
        compute += shard_seconds(p, k, d) * kScale;
        memory += shard_memory(p, k);
        if (memory > p.devices[d].memory_bytes || compute > cutoff) break;
        const double exit = cheapest_exit_ms(d, k);
        if (exit >= 1e300 || compute + exit > cutoff) continue;
        runs.push_back(Run{d, j, k, compute});
        cover_nonzeros += k - j + 1;
        if (cover_nonzeros > kMaxCoverNonzeros) return solve_mip_assignment(p, objective, options);
      }
    }
  }
  if (runs.empty()) return make_error("infeasible: no placement satisfies memory and links");

  // Column layout.
  const int num_runs = static_cast<int>(runs.size());
  auto r_col = [](int q) { return 1 + q; };
  std::vector<std::vector<int>> v_col(std::max(0, n - 1), std::vector<int>(nd * nd, 0));
  int next = 1 + num_runs;
  for (int k = 0; k + 1 < n; ++k) {
    for (int d = 0; d < nd; ++d) {
      for (int e = 0; e < nd; ++e) {
        if (d != e && e != head && p.link(d, e).present) v_col[k][d * nd + e] = next++;
      }
    }
  }
  const int u0 = next, t0 = next + nd, tau = next + 2 * nd;
  const int num_cols = tau;

  glpk::ProbPtr owner(glp_create_prob());
  glp_prob* lp = owner.get();
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_cols(lp, num_cols);
  for (int q = 0; q < num_runs; ++q) glp_set_col_kind(lp, r_col(q), GLP_BV);
  for (int c = 1 + num_runs; c < u0; ++c) glp_set_col_bnds(lp, c, GLP_DB, 0, 1);
  for (int d = 0; d < nd; ++d) {
    glp_set_col_kind(lp, u0 + d, GLP_BV);
    if (d == head) glp_set_col_bnds(lp, u0 + d, GLP_FX, 1, 1);
    if (stage_cap < 1e300) {
      glp_set_col_bnds(lp, t0 + d, GLP_DB, 0, stage_cap);
    } else {
      glp_set_col_bnds(lp, t0 + d, GLP_LO, 0, 0);
    }
    if (objective == Objective::kLatency) glp_set_obj_coef(lp, t0 + d, 1);
  }
  if (objective == Objective::kThroughput) {
    if (cutoff < 1e300) {
      glp_set_col_bnds(lp, tau, GLP_DB, 0, cutoff);
    } else {
      glp_set_col_bnds(lp, tau, GLP_LO, 0, 0);
    }
    glp_set_obj_coef(lp, tau, 1);
  } else {
    glp_set_col_bnds(lp, tau, GLP_FX, 0, 0);
  }

  // Cover: each shard in exactly one run.
  std::vector<Row> cover(n);
  std::vector<Row> device_rows(nd);
  std::vector<Row> time_rows(nd);
  std::vector<std::vector<Row>> out_rows(std::max(0, n - 1), std::vector<Row>(nd));  // [k][d]
  std::vector<std::vector<Row>> in_rows(std::max(0, n - 1), std::vector<Row>(nd));   // [k][e]
  for (int q = 0; q < num_runs; ++q) {
    const Run& run = runs[q];
    for (int i = run.first; i <= run.last; ++i) cover[i].add(r_col(q), 1);
    device_rows[run.device].add(r_col(q), 1);
    double cost = run.compute_ms;
    if (run.last == n - 1 && run.device != head) cost += transfer_seconds(p, run.device, head, kTokenIdBytes) * kScale;
    time_rows[run.device].add(r_col(q), -cost);
    if (run.last + 1 < n) out_rows[run.last][run.device].add(r_col(q), -1);
    if (run.first > 0) in_rows[run.first - 1][run.device].add(r_col(q), -1);
  }
  for (int k = 0; k + 1 < n; ++k) {
    for (int d = 0; d < nd; ++d) {
      for (int e = 0; e < nd; ++e) {
        const int c = v_col[k][d * nd + e];
        if (c == 0) continue;
        out_rows[k][d].add(c, 1);
        in_rows[k][e].add(c, 1);
        time_rows[d].add(c, -transfer_seconds(p, d, e, stage_output_bytes(p, k)) * kScale);
      }
    }
  }
  for (int i = 0; i < n; ++i) glpk::add_row(lp, cover[i], GLP_FX, 1, 1);
  for (int d = 0; d < nd; ++d) {
    device_rows[d].add(u0 + d, -1);
    glpk::add_row(lp, device_rows[d], GLP_FX, 0, 0);
    time_rows[d].add(t0 + d, 1);
    glpk::add_row(lp, time_rows[d], GLP_FX, 0, 0);
    if (objective == Objective::kThroughput) {
      Row row;
      row.add(tau, 1);
      row.add(t0 + d, -1);
      glpk::add_row(lp, row, GLP_LO, 0, 0);
    }
  }
  for (int k = 0; k + 1 < n; ++k) {
    for (int d = 0; d < nd; ++d) {
      if (out_rows[k][d].ind.size() > 1) glpk::add_row(lp, out_rows[k][d], GLP_FX, 0, 0);
      if (in_rows[k][d].ind.size() > 1) glpk::add_row(lp, in_rows[k][d], GLP_FX, 0, 0);
    }
  }
  // Symmetry: of two interchangeable devices the lower index is used first and starts earlier.
  for (int d1 = 0; d1 < nd; ++d1) {
    for (int d2 = d1 + 1; d2 < nd; ++d2) {
      if (!interchangeable(p, d1, d2)) continue;
      Row used;
      used.add(u0 + d1, 1);
      used.add(u0 + d2, -1);
      glpk::add_row(lp, used, GLP_LO, 0, 0);
      Row order;  // start(d2) - start(d1) >= -n (1 - u[d2])
      for (int q = 0; q < num_runs; ++q) {
        if (runs[q].device == d2) order.add(r_col(q), runs[q].first);
        if (runs[q].device == d1) order.add(r_col(q), -runs[q].first);
      }
      order.add(u0 + d2, -n);
      glpk::add_row(lp, order, GLP_LO, -n, 0);
      break;
    }
  }

  // The incumbent as a full column vector.
  std::vector<double> start_columns;
  if (options.incumbent) {
    start_columns.assign(num_cols + 1, 0.0);
    bool complete = true;
    const auto& stages = options.incumbent->stages;
    for (size_t s = 0; s < stages.size(); ++s) {
      const Stage& st = stages[s];
      auto it = std::find_if(runs.begin(), runs.end(), [&](const Run& r) {
        return r.device == st.device && r.first == st.first_shard && r.last == st.last_shard;
      });
      if (it == runs.end())
        complete = false;
      else
        start_columns[r_col(static_cast<int>(it - runs.begin()))] = 1;
      start_columns[u0 + st.device] = 1;
      start_columns[t0 + st.device] = st.time_s() * kScale;
      if (s + 1 < stages.size()) {
        const int c = v_col[st.last_shard][st.device * nd + stages[s + 1].device];
        if (c == 0)
          complete = false;
        else
          start_columns[c] = 1;
      }
    }
    start_columns[tau] = objective == Objective::kThroughput ? options.incumbent->bottleneck_s * kScale : 0;
    if (!complete) start_columns.clear();
  }

  LL_ASSIGN_OR_RETURN(glpk::Outcome outcome, glpk::solve(lp, options.time_limit_s, start, start_columns));
  std::vector<StageSpan> spans;
  for (int q = 0; q < num_runs; ++q) {
    if (glp_mip_col_val(lp, r_col(q)) > 0.5) spans.push_back(StageSpan{runs[q].device, runs[q].first, runs[q].last});
  }
  std::sort(spans.begin(), spans.end(),
            [](const StageSpan& a, const StageSpan& b) { return a.first_shard < b.first_shard; });
  auto plan = evaluate_plan(p, spans, objective);
  if (!plan.ok()) return make_error("GLPK solution does not check out: " + plan.error());
  plan->solver = "glpk-mip (runs)";
  plan->optimal = outcome.optimal;
  plan->status = plan->optimal ? "optimal" : "feasible (time limit)";
  plan->solve_seconds = outcome.seconds;
  plan->solver_objective_s = outcome.objective / kScale;
  plan->solver_bound_s = outcome.bound / kScale;
  return plan;
}

}  // namespace

// Latency: one solve with the incumbent's objective as cutoff. Throughput: the same, and if GLPK cannot close the
// gap in half the time, bisection on the bottleneck: a solve with cutoff c either finds a plan (all stages <= c;
// then its optimum is the global optimum if proven, else it lowers the upper bound) or proves none exists (the
// optimum is above c). The bound is kept as proven lower bound; "optimal" means upper - lower <= 1.5e-6 relative.
Result<Plan> solve_mip_runs(const PlacementProblem& p, Objective objective, const MipOptions& options) {
  LL_TRY_STATUS(validate_problem(p));
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const double inf = 1e300;
  const double first_cutoff = options.incumbent ? options.incumbent->objective_value() * (1 + 1e-7) : inf;
  if (objective == Objective::kLatency || !options.incumbent)
    return solve_runs_once(p, objective, options, first_cutoff);

  MipOptions first = options;
  first.time_limit_s = std::min(options.first_solve_s, options.time_limit_s / 4);  // then bisect
  Result<Plan> result = make_error("first solve skipped");
  if (first.time_limit_s > 0) result = solve_runs_once(p, objective, first, first_cutoff);
  if (result.ok() && result->optimal) return result;
  if (!result.ok() && result.error().rfind("infeasible", 0) == 0) return result;
  // Out of time (possibly before even an LP optimum): start from the incumbent with the trivial lower bound.
  Plan best = result.ok() ? std::move(result).value() : *options.incumbent;
  double lower = result.ok() ? best.solver_bound_s : 0.0;
  double upper = best.objective_value();
  int rounds = 0;
  while (upper - lower > kRelGap * upper && elapsed() < options.time_limit_s) {
    // First try just below the incumbent (it is often optimal already: then one infeasibility proof ends it).
    const double mid = rounds == 0 ? upper * (1 - 1e-6) : lower + (upper - lower) / 2;
    MipOptions sub;
    sub.time_limit_s = options.time_limit_s - elapsed();
    sub.stage_cap_s = options.stage_cap_s;
    auto trial = solve_runs_once(p, objective, sub, mid);
    ++rounds;
    if (!trial.ok()) {
      if (trial.error().rfind("infeasible", 0) != 0) break;  // out of time or GLPK trouble: keep what we have
      lower = mid;
      continue;
    }
    if (trial->objective_value() < upper) {
      upper = trial->objective_value();
      best = std::move(trial).value();
    }
    if (best.optimal) {
      lower = upper;  // optimal among plans with stages <= mid, and the optimum is one of them
      break;
    }
    lower = std::max(lower, best.solver_bound_s);
  }
  best.optimal = upper - lower <= kRelGap * upper;
  best.status = best.optimal ? "optimal" : "feasible (time limit)";
  best.solver = "glpk-mip (runs, bisection x" + std::to_string(rounds) + ")";
  best.solver_objective_s = upper;
  best.solver_bound_s = lower;
  best.solve_seconds = elapsed();
  return best;
}

}  // namespace ll::placement
