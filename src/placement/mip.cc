// GLPK model of the placement problem. Columns (1-based, as GLPK wants):
//   x[i][d]      binary  shard i runs on device d
//   w[i][a][b]   [0,1]   shard i on a and shard i+1 on b (a flow between consecutive shards; integral once x is)
//   T[d]         >= 0    stage time of device d (0 if unused), in milliseconds
//   u[d]         binary  device d is used (entered once, left once, and u >= every x[.][d]: a tightening)
//   s[d][i]      [0,1]   device d has been entered by shard i (only for interchangeable devices, to break symmetry)
//   tau          >= 0    the slowest stage (throughput only; fixed at 0 for latency)
// Thread-safe: all state is local to one call.
#include "placement/mip.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "placement/cost_model.h"
#include "placement/glpk_driver.h"

namespace ll::placement {
namespace {

constexpr double kScale = 1e3;  // the model works in milliseconds

struct Layout {
  int n = 0, nd = 0;
  int x(int i, int d) const { return 1 + i * nd + d; }
  int w(int i, int a, int b) const { return 1 + n * nd + (i * nd + a) * nd + b; }
  int t(int d) const { return 1 + n * nd + (n - 1) * nd * nd + d; }
  int u(int d) const { return t(nd) + d; }
  int s(int d, int i) const { return u(nd) + d * n + i; }
  int tau() const { return s(nd, 0); }
  int columns() const { return tau(); }
};

using glpk::Row;

// Full column vector (1-based) for a plan, so GLPK can start from it.
std::vector<double> columns_for(const PlacementProblem& p, const Layout& L, Objective objective, const Plan& plan,
                                const std::vector<bool>& has_s) {
  std::vector<double> col(L.columns() + 1, 0.0);
  std::vector<int> device_of(p.num_shards());
  for (const auto& s : plan.stages) {
    for (int i = s.first_shard; i <= s.last_shard; ++i) device_of[i] = s.device;
    col[L.t(s.device)] = s.time_s() * kScale;
    col[L.u(s.device)] = 1;
    if (has_s[s.device]) {
      for (int i = s.first_shard; i < p.num_shards(); ++i) col[L.s(s.device, i)] = 1;
    }
  }
  for (int i = 0; i < p.num_shards(); ++i) {
    col[L.x(i, device_of[i])] = 1;
    if (i + 1 < p.num_shards()) col[L.w(i, device_of[i], device_of[i + 1])] = 1;
  }
  if (objective == Objective::kThroughput) col[L.tau()] = plan.bottleneck_s * kScale;
  return col;
}

}  // namespace

Result<Plan> solve_mip_assignment(const PlacementProblem& p, Objective objective, const MipOptions& options) {
  LL_TRY_STATUS(validate_problem(p));
  const auto start = std::chrono::steady_clock::now();
  const int n = p.num_shards();
  const int nd = p.num_devices();
  const int head = p.head;
  const Layout L{n, nd};

  glpk::ProbPtr owner(glp_create_prob());
  glp_prob* lp = owner.get();
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_cols(lp, L.columns());

  // x: binaries; fixed to 0 where a single shard cannot fit, or where the last shard could not reach the head.
  for (int i = 0; i < n; ++i) {
    for (int d = 0; d < nd; ++d) {
      const int c = L.x(i, d);
      glp_set_col_kind(lp, c, GLP_BV);
      bool allowed = shard_memory(p, i) <= p.devices[d].memory_bytes;
      if (i == 0) allowed = allowed && d == head;
      if (i == n - 1 && d != head) allowed = allowed && p.link(d, head).present;
      if (i == 0 && d == head && allowed) {
        glp_set_col_bnds(lp, c, GLP_FX, 1, 1);
      } else if (!allowed) {
        glp_set_col_bnds(lp, c, GLP_FX, 0, 0);
      }
    }
  }
  // w: continuous in [0,1]; a != b needs a link and never enters the head.
  for (int i = 0; i + 1 < n; ++i) {
    for (int a = 0; a < nd; ++a) {
      for (int b = 0; b < nd; ++b) {
        const int c = L.w(i, a, b);
        const bool allowed = a == b || (p.link(a, b).present && b != head);
        if (allowed) {
          glp_set_col_bnds(lp, c, GLP_DB, 0, 1);
        } else {
          glp_set_col_bnds(lp, c, GLP_FX, 0, 0);
        }
      }
    }
  }
  for (int d = 0; d < nd; ++d) {
    glp_set_col_bnds(lp, L.t(d), GLP_LO, 0, 0);
    if (objective == Objective::kLatency) glp_set_obj_coef(lp, L.t(d), 1);
  }
  for (int d = 0; d < nd; ++d) {
    glp_set_col_kind(lp, L.u(d), GLP_BV);
    if (d == head) glp_set_col_bnds(lp, L.u(d), GLP_FX, 1, 1);
    for (int i = 0; i < n; ++i) glp_set_col_bnds(lp, L.s(d, i), GLP_FX, 0, 0);  // freed below where used
  }
  if (objective == Objective::kThroughput) {
    glp_set_col_bnds(lp, L.tau(), GLP_LO, 0, 0);
    glp_set_obj_coef(lp, L.tau(), 1);
  } else {
    glp_set_col_bnds(lp, L.tau(), GLP_FX, 0, 0);
  }

  // Every shard on exactly one device.
  for (int i = 0; i < n; ++i) {
    Row row;
    for (int d = 0; d < nd; ++d) row.add(L.x(i, d), 1);
    glpk::add_row(lp, row, GLP_FX, 1, 1);
  }
  // Flow conservation between consecutive shards.
  for (int i = 0; i + 1 < n; ++i) {
    for (int a = 0; a < nd; ++a) {
      Row out;
      for (int b = 0; b < nd; ++b) out.add(L.w(i, a, b), 1);
      out.add(L.x(i, a), -1);
      glpk::add_row(lp, out, GLP_FX, 0, 0);
      Row in;
      for (int b = 0; b < nd; ++b) in.add(L.w(i, b, a), 1);
      in.add(L.x(i + 1, a), -1);
      glpk::add_row(lp, in, GLP_FX, 0, 0);
    }
  }
  // A used device is entered exactly once and left exactly once (to the next stage, or as the last stage, back to
  // the head): its shards form one contiguous run, and it holds one stage at most.
  for (int b = 0; b < nd; ++b) {
    Row in;
    in.add(L.x(0, b), 1);
    Row out;
    out.add(L.x(n - 1, b), 1);
    for (int i = 0; i + 1 < n; ++i) {
      for (int a = 0; a < nd; ++a) {
        if (a == b) continue;
        in.add(L.w(i, a, b), 1);
        out.add(L.w(i, b, a), 1);
      }
    }
    in.add(L.u(b), -1);
    out.add(L.u(b), -1);
    glpk::add_row(lp, in, GLP_FX, 0, 0);
    glpk::add_row(lp, out, GLP_FX, 0, 0);
    for (int i = 0; i < n; ++i) {
      Row used;
      used.add(L.x(i, b), 1);
      used.add(L.u(b), -1);
      glpk::add_row(lp, used, GLP_UP, 0, 0);
    }
  }
  // Interchangeable devices (same budget, speed, timings and links): the lower index runs first.
  std::vector<bool> has_s(nd, false);
  for (int d1 = 0; d1 < nd; ++d1) {
    for (int d2 = d1 + 1; d2 < nd; ++d2) {
      if (!interchangeable(p, d1, d2)) continue;
      for (int d : {d1, d2}) {
        if (has_s[d]) continue;
        has_s[d] = true;
        for (int i = 0; i < n; ++i) {
          glp_set_col_bnds(lp, L.s(d, i), GLP_DB, 0, 1);
          Row step;  // s[d][i] = s[d][i-1] + entries into d between shard i-1 and i
          step.add(L.s(d, i), 1);
          if (i == 0) {
            step.add(L.x(0, d), -1);
          } else {
            step.add(L.s(d, i - 1), -1);
            for (int a = 0; a < nd; ++a) {
              if (a != d) step.add(L.w(i - 1, a, d), -1);
            }
          }
          glpk::add_row(lp, step, GLP_FX, 0, 0);
        }
      }
      for (int i = 0; i < n; ++i) {
        Row order;
        order.add(L.s(d2, i), 1);
        order.add(L.s(d1, i), -1);
        glpk::add_row(lp, order, GLP_UP, 0, 0);
      }
      break;  // chain each device to the next interchangeable one only
    }
  }
  // Memory, scaled by the budget, and only on a used device (the u-scaled form is the tighter relaxation).
  for (int d = 0; d < nd; ++d) {
    const double budget = static_cast<double>(p.devices[d].memory_bytes);
    if (budget <= 0) continue;  // every x[.][d] is already fixed at 0
    Row row;
    for (int i = 0; i < n; ++i) row.add(L.x(i, d), static_cast<double>(shard_memory(p, i)) / budget);
    row.add(L.u(d), -1);
    glpk::add_row(lp, row, GLP_UP, 0, 0);
  }
  // Objective cutoff from the incumbent: in any plan at least as good, one stage's compute plus its cheapest way
  // out is at most the incumbent's objective. With u this bounds compute per unit of "device used", which lifts the
  // LP bound a lot (a fractional device no longer gets compute for a fraction of its transfer cost).
  if (options.incumbent) {
    const double cutoff = options.incumbent->objective_value() * (1 + 1e-7) * kScale;
    uint64_t min_out_bytes = kTokenIdBytes;
    for (int i = 0; i + 1 < n; ++i) min_out_bytes = std::min(min_out_bytes, p.shards[i].out_bytes_per_token);
    for (int d = 0; d < nd; ++d) {
      double cheapest_out = 0;
      if (d != head) {
        cheapest_out = 1e300;
        for (int b = 0; b < nd; ++b) {
          if (b == d || !p.link(d, b).present) continue;
          cheapest_out = std::min(cheapest_out, transfer_seconds(p, d, b, min_out_bytes) * kScale);
        }
        if (cheapest_out == 1e300) continue;  // cannot leave: x[.][d] end up 0 anyway
      }
      Row row;
      for (int i = 0; i < n; ++i) row.add(L.x(i, d), shard_seconds(p, i, d) * kScale);
      row.add(L.u(d), -(cutoff - cheapest_out));
      glpk::add_row(lp, row, GLP_UP, 0, 0);
    }
  }
  // Stage times: T[d] = compute + boundary transfer + (last stage) token back to the head.
  for (int d = 0; d < nd; ++d) {
    Row row;
    row.add(L.t(d), 1);
    for (int i = 0; i < n; ++i) {
      double c = shard_seconds(p, i, d);
      if (i == n - 1 && d != head && p.link(d, head).present) c += transfer_seconds(p, d, head, kTokenIdBytes);
      row.add(L.x(i, d), -c * kScale);
    }
    for (int i = 0; i + 1 < n; ++i) {
      for (int b = 0; b < nd; ++b) {
        if (b == d || b == head || !p.link(d, b).present) continue;
        row.add(L.w(i, d, b), -transfer_seconds(p, d, b, stage_output_bytes(p, i)) * kScale);
      }
    }
    glpk::add_row(lp, row, GLP_FX, 0, 0);
  }
  if (objective == Objective::kThroughput) {
    for (int d = 0; d < nd; ++d) {
      Row row;
      row.add(L.tau(), 1);
      row.add(L.t(d), -1);
      glpk::add_row(lp, row, GLP_LO, 0, 0);
    }
  }

  std::vector<double> start_columns;
  if (options.incumbent) start_columns = columns_for(p, L, objective, *options.incumbent, has_s);
  LL_ASSIGN_OR_RETURN(glpk::Outcome outcome, glpk::solve(lp, options.time_limit_s, start, start_columns));

  // Read the assignment and group consecutive shards on the same device into stages.
  std::vector<StageSpan> spans;
  for (int i = 0; i < n; ++i) {
    int device = -1;
    for (int d = 0; d < nd; ++d) {
      if (glp_mip_col_val(lp, L.x(i, d)) > 0.5) device = d;
    }
    if (device < 0) return make_error("GLPK returned a solution without a device for shard " + std::to_string(i));
    if (!spans.empty() && spans.back().device == device) {
      spans.back().last_shard = i;
    } else {
      spans.push_back(StageSpan{device, i, i});
    }
  }
  auto plan = evaluate_plan(p, spans, objective);
  if (!plan.ok()) return make_error("GLPK solution does not check out: " + plan.error());
  plan->solver = "glpk-mip (assignment)";
  plan->optimal = outcome.optimal;
  plan->status = plan->optimal ? "optimal" : "feasible (time limit)";
  plan->solve_seconds = outcome.seconds;
  plan->solver_objective_s = outcome.objective / kScale;
  plan->solver_bound_s = outcome.bound / kScale;
  return plan;
}

Result<Plan> solve_mip(const PlacementProblem& p, Objective objective, const MipOptions& options) {
  if (options.formulation == Formulation::kAssignment) return solve_mip_assignment(p, objective, options);
  return solve_mip_runs(p, objective, options);
}

}  // namespace ll::placement
