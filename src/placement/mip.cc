// GLPK model of the placement problem. Columns (1-based, as GLPK wants):
//   x[i][d]      binary  shard i runs on device d
//   w[i][a][b]   [0,1]   shard i on a and shard i+1 on b (a flow between consecutive shards; integral once x is)
//   T[d]         >= 0    stage time of device d (0 if unused), in milliseconds
//   tau          >= 0    throughput only: the slowest stage
// Thread-safe: all state is local to one call.
#include "placement/mip.h"

#include <glpk.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "placement/cost_model.h"

namespace ll::placement {
namespace {

constexpr double kScale = 1e3;  // the model works in milliseconds

struct Layout {
  int n = 0, nd = 0;
  int x(int i, int d) const { return 1 + i * nd + d; }
  int w(int i, int a, int b) const { return 1 + n * nd + (i * nd + a) * nd + b; }
  int t(int d) const { return 1 + n * nd + (n - 1) * nd * nd + d; }
  int tau() const { return 1 + n * nd + (n - 1) * nd * nd + nd; }
  int columns(Objective o) const { return tau() - (o == Objective::kThroughput ? 0 : 1); }
};

struct ProbDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

// Sparse row builder.
struct Row {
  std::vector<int> ind{0};
  std::vector<double> val{0};
  void add(int col, double v) {
    ind.push_back(col);
    val.push_back(v);
  }
};

void add_row(glp_prob* lp, Row& row, int type, double lo, double hi) {
  const int r = glp_add_rows(lp, 1);
  glp_set_row_bnds(lp, r, type, lo, hi);
  glp_set_mat_row(lp, r, static_cast<int>(row.ind.size()) - 1, row.ind.data(), row.val.data());
}

// Full column vector (1-based) for a plan, so GLPK can start from it.
std::vector<double> columns_for(const PlacementProblem& p, const Layout& L, Objective objective, const Plan& plan) {
  std::vector<double> col(L.columns(objective) + 1, 0.0);
  std::vector<int> device_of(p.num_shards());
  for (const auto& s : plan.stages) {
    for (int i = s.first_shard; i <= s.last_shard; ++i) device_of[i] = s.device;
    col[L.t(s.device)] = s.time_s() * kScale;
  }
  for (int i = 0; i < p.num_shards(); ++i) {
    col[L.x(i, device_of[i])] = 1;
    if (i + 1 < p.num_shards()) col[L.w(i, device_of[i], device_of[i + 1])] = 1;
  }
  if (objective == Objective::kThroughput) col[L.tau()] = plan.bottleneck_s * kScale;
  return col;
}

struct CallbackData {
  std::vector<double> start;
  bool given = false;
  double bound = -1;  // best proven lower bound seen (model units), -1 if none
};

void callback(glp_tree* tree, void* info) {
  auto* data = static_cast<CallbackData*>(info);
  if (glp_ios_reason(tree) == GLP_IHEUR && !data->given && !data->start.empty()) {
    data->given = true;
    glp_ios_heur_sol(tree, data->start.data());
  }
  const int best = glp_ios_best_node(tree);
  if (best != 0) data->bound = glp_ios_node_bound(tree, best);
}

}  // namespace

Result<Plan> solve_mip(const PlacementProblem& p, Objective objective, const MipOptions& options) {
  LL_TRY_STATUS(validate_problem(p));
  const auto start = std::chrono::steady_clock::now();
  const int n = p.num_shards();
  const int nd = p.num_devices();
  const int head = p.head;
  const Layout L{n, nd};

  glp_term_out(GLP_OFF);
  std::unique_ptr<glp_prob, ProbDeleter> owner(glp_create_prob());
  glp_prob* lp = owner.get();
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_cols(lp, L.columns(objective));

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
  if (objective == Objective::kThroughput) {
    glp_set_col_bnds(lp, L.tau(), GLP_LO, 0, 0);
    glp_set_obj_coef(lp, L.tau(), 1);
  }

  // Every shard on exactly one device.
  for (int i = 0; i < n; ++i) {
    Row row;
    for (int d = 0; d < nd; ++d) row.add(L.x(i, d), 1);
    add_row(lp, row, GLP_FX, 1, 1);
  }
  // Flow conservation between consecutive shards.
  for (int i = 0; i + 1 < n; ++i) {
    for (int a = 0; a < nd; ++a) {
      Row out;
      for (int b = 0; b < nd; ++b) out.add(L.w(i, a, b), 1);
      out.add(L.x(i, a), -1);
      add_row(lp, out, GLP_FX, 0, 0);
      Row in;
      for (int b = 0; b < nd; ++b) in.add(L.w(i, b, a), 1);
      in.add(L.x(i + 1, a), -1);
      add_row(lp, in, GLP_FX, 0, 0);
    }
  }
  // Each device is entered at most once: its shards form one contiguous run, and it holds one stage at most.
  for (int b = 0; b < nd; ++b) {
    Row row;
    row.add(L.x(0, b), 1);
    for (int i = 0; i + 1 < n; ++i) {
      for (int a = 0; a < nd; ++a) {
        if (a != b) row.add(L.w(i, a, b), 1);
      }
    }
    add_row(lp, row, GLP_UP, 0, 1);
  }
  // Memory, scaled by the budget so coefficients are at most 1.
  for (int d = 0; d < nd; ++d) {
    const double budget = static_cast<double>(p.devices[d].memory_bytes);
    if (budget <= 0) continue;  // every x[.][d] is already fixed at 0
    Row row;
    for (int i = 0; i < n; ++i) row.add(L.x(i, d), static_cast<double>(shard_memory(p, i)) / budget);
    add_row(lp, row, GLP_UP, 0, 1);
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
    add_row(lp, row, GLP_FX, 0, 0);
  }
  if (objective == Objective::kThroughput) {
    for (int d = 0; d < nd; ++d) {
      Row row;
      row.add(L.tau(), 1);
      row.add(L.t(d), -1);
      add_row(lp, row, GLP_LO, 0, 0);
    }
  }

  CallbackData data;
  if (options.incumbent) data.start = columns_for(p, L, objective, *options.incumbent);
  // The LP relaxation first (glp_intopt without its presolver needs an optimal basis; without the presolver the
  // column numbers in the callback are ours, which the incumbent needs).
  glp_smcp lp_parm;
  glp_init_smcp(&lp_parm);
  lp_parm.msg_lev = GLP_MSG_OFF;
  lp_parm.presolve = GLP_ON;
  lp_parm.tm_lim = static_cast<int>(std::max(1.0, options.time_limit_s * 1000));
  glp_scale_prob(lp, GLP_SF_AUTO);
  const int lp_ret = glp_simplex(lp, &lp_parm);
  if (lp_ret == GLP_ENOPFS || (lp_ret == 0 && glp_get_status(lp) == GLP_NOFEAS)) {
    return make_error("infeasible: no placement satisfies memory and links");
  }
  if (lp_ret != 0 || glp_get_status(lp) != GLP_OPT) {
    return make_error("GLPK: the LP relaxation failed (glp_simplex returned " + std::to_string(lp_ret) + ")");
  }
  if (lp_parm.presolve == GLP_ON) {
    // glp_simplex with presolve leaves no basis for glp_intopt; re-solve from a basis without the presolver.
    lp_parm.presolve = GLP_OFF;
    glp_adv_basis(lp, 0);
    if (glp_simplex(lp, &lp_parm) != 0 || glp_get_status(lp) != GLP_OPT) {
      return make_error("GLPK: the LP relaxation failed");
    }
  }
  glp_iocp parm;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_OFF;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  parm.tm_lim = static_cast<int>(std::max(1.0, (options.time_limit_s - elapsed) * 1000));
  parm.mip_gap = 1e-9;
  parm.mir_cuts = GLP_ON;
  parm.cb_func = callback;
  parm.cb_info = &data;
  const int ret = glp_intopt(lp, &parm);
  const int status = glp_mip_status(lp);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ret == GLP_ENOPFS || status == GLP_NOFEAS) {
    return make_error("infeasible: no placement satisfies memory and links");
  }
  if (status != GLP_OPT && status != GLP_FEAS) {
    if (ret == GLP_ETMLIM) return make_error("GLPK found no placement within the time limit");
    return make_error("GLPK failed (glp_intopt returned " + std::to_string(ret) + ")");
  }

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
  plan->solver = "glpk-mip";
  plan->optimal = status == GLP_OPT;
  plan->status = plan->optimal ? "optimal" : "feasible (time limit)";
  plan->solve_seconds = seconds;
  plan->solver_objective_s = glp_mip_obj_val(lp) / kScale;
  plan->solver_bound_s = plan->optimal || data.bound < 0 ? plan->solver_objective_s : data.bound / kScale;
  return plan;
}

}  // namespace ll::placement
