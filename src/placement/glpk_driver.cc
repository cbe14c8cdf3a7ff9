// GLPK plumbing for the placement MIPs. Thread-safe per glp_prob.
#include "placement/glpk_driver.h"

#include <algorithm>
#include <string>

namespace ll::placement::glpk {
namespace {

struct CallbackData {
  const std::vector<double>* start = nullptr;
  bool given = false;
  double bound = -1e300;
};

void callback(glp_tree* tree, void* info) {
  auto* data = static_cast<CallbackData*>(info);
  if (glp_ios_reason(tree) == GLP_IHEUR && !data->given && data->start && !data->start->empty()) {
    data->given = true;
    glp_ios_heur_sol(tree, data->start->data());
  }
  const int best = glp_ios_best_node(tree);
  if (best != 0) data->bound = glp_ios_node_bound(tree, best);
}

const char* kInfeasible = "infeasible: no placement satisfies memory and links";

}  // namespace

void add_row(glp_prob* lp, const Row& row, int type, double lo, double hi) {
  const int r = glp_add_rows(lp, 1);
  glp_set_row_bnds(lp, r, type, lo, hi);
  glp_set_mat_row(lp, r, static_cast<int>(row.ind.size()) - 1, row.ind.data(), row.val.data());
}

Result<Outcome> solve(glp_prob* lp, double time_limit_s, std::chrono::steady_clock::time_point start,
                      const std::vector<double>& start_columns) {
  glp_term_out(GLP_OFF);
  auto remaining_ms = [&] {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return static_cast<int>(std::max(1.0, (time_limit_s - elapsed) * 1000));
  };
  // The LP relaxation first: glp_intopt without its own presolver needs an optimal basis, and without the presolver
  // the column numbers seen by the callback are ours, which the incumbent needs.
  glp_smcp lp_parm;
  glp_init_smcp(&lp_parm);
  lp_parm.msg_lev = GLP_MSG_OFF;
  lp_parm.presolve = GLP_OFF;
  lp_parm.tm_lim = remaining_ms();
  glp_scale_prob(lp, GLP_SF_AUTO);
  glp_adv_basis(lp, 0);
  const int lp_ret = glp_simplex(lp, &lp_parm);
  if (lp_ret == 0 && glp_get_status(lp) == GLP_NOFEAS) return make_error(kInfeasible);
  if (lp_ret != 0 || glp_get_status(lp) != GLP_OPT) {
    return make_error("GLPK: the LP relaxation failed (glp_simplex returned " + std::to_string(lp_ret) + ")");
  }
  CallbackData data;
  data.start = &start_columns;
  glp_iocp parm;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_OFF;
  parm.tm_lim = remaining_ms();
  parm.mip_gap = 1e-6;  // relative; plans are compared to ~6 digits
  parm.mir_cuts = GLP_ON;
  parm.cb_func = callback;
  parm.cb_info = &data;
  const int ret = glp_intopt(lp, &parm);
  const int status = glp_mip_status(lp);
  Outcome out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ret == GLP_ENOPFS || status == GLP_NOFEAS) return make_error(kInfeasible);
  if (status != GLP_OPT && status != GLP_FEAS) {
    if (ret == GLP_ETMLIM) return make_error("GLPK found no placement within the time limit");
    return make_error("GLPK failed (glp_intopt returned " + std::to_string(ret) + ")");
  }
  out.optimal = status == GLP_OPT;
  out.objective = glp_mip_obj_val(lp);
  if (out.optimal) {
    out.bound = out.objective;
  } else {  // objectives are times, so 0 is always a valid lower bound
    out.bound = data.bound <= -1e300 ? 0.0 : std::min(data.bound, out.objective);
  }
  return out;
}

}  // namespace ll::placement::glpk
