// solve_placement and its helpers. Thread-safe (no shared state).
#include "placement/solver.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/units.h"
#include "placement/cost_model.h"
#include "placement/exact_dp.h"
#include "placement/heuristics.h"
#include "placement/mip.h"

namespace ll::placement {
namespace {

// Devices that can be on a ring with the head: reachable from it and able to reach it back.
std::vector<bool> ring_devices(const PlacementProblem& p) {
  const int nd = p.num_devices();
  auto reach = [&](bool forward) {
    std::vector<bool> seen(nd, false);
    std::vector<int> stack{p.head};
    seen[p.head] = true;
    while (!stack.empty()) {
      const int a = stack.back();
      stack.pop_back();
      for (int b = 0; b < nd; ++b) {
        const bool edge = forward ? p.link(a, b).present : p.link(b, a).present;
        if (edge && !seen[b]) {
          seen[b] = true;
          stack.push_back(b);
        }
      }
    }
    return seen;
  };
  const auto fwd = reach(true);
  const auto bwd = reach(false);
  std::vector<bool> out(nd);
  for (int d = 0; d < nd; ++d) out[d] = fwd[d] && bwd[d];
  return out;
}

bool same_value(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max(1.0, std::max(std::abs(a), std::abs(b)));
}

std::string seconds_text(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g ms", s * 1e3);
  return buf;
}

}  // namespace

Status check_memory(const PlacementProblem& p) {
  const auto usable = ring_devices(p);
  uint64_t need = 0;
  uint64_t largest_shard = 0;
  int largest_shard_id = 0;
  for (int i = 0; i < p.num_shards(); ++i) {
    need += shard_memory(p, i);
    if (shard_memory(p, i) > largest_shard) {
      largest_shard = shard_memory(p, i);
      largest_shard_id = i;
    }
  }
  uint64_t have = 0;
  uint64_t largest_device = 0;
  for (int d = 0; d < p.num_devices(); ++d) {
    if (!usable[d]) continue;
    have += p.devices[d].memory_bytes;
    largest_device = std::max(largest_device, p.devices[d].memory_bytes);
  }
  const std::string ctx = " (weights + KV cache for " + std::to_string(p.sessions) + " session(s) of " +
                          std::to_string(p.context) + " tokens)";
  if (need > have) {
    return make_error("infeasible: the model needs " + format_bytes(need) + ctx +
                      " but the devices that can join the ring hold " + format_bytes(have) + ": " +
                      format_bytes(need - have) + " missing");
  }
  if (largest_shard > largest_device) {
    return make_error("infeasible: shard " + std::to_string(largest_shard_id) + " needs " +
                      format_bytes(largest_shard) + ctx + " but the largest device holds " +
                      format_bytes(largest_device) + ": " + format_bytes(largest_shard - largest_device) + " missing");
  }
  if (shard_memory(p, 0) > p.devices[p.head].memory_bytes) {
    return make_error("infeasible: the head device '" + p.devices[p.head].name + "' cannot hold shard 0 (" +
                      format_bytes(shard_memory(p, 0)) + ctx + " of " + format_bytes(p.devices[p.head].memory_bytes) +
                      "): " + format_bytes(shard_memory(p, 0) - p.devices[p.head].memory_bytes) + " missing");
  }
  return Status::Ok();
}

Plan add_backup_shards(const PlacementProblem& p, Plan plan) {
  const int n = p.num_shards();
  for (auto& st : plan.stages) {
    st.backup_shards.clear();
    st.backup_bytes = 0;
    const uint64_t budget = p.devices[st.device].memory_bytes;
    uint64_t used = st.memory_used_bytes;
    int left = st.first_shard - 1;
    int right = st.last_shard + 1;
    bool left_open = left >= 0;
    bool right_open = right < n;
    bool take_left = true;
    while (left_open || right_open) {
      const bool side_left = (take_left && left_open) || !right_open;
      take_left = !take_left;
      const int shard = side_left ? left : right;
      const uint64_t need = shard_memory(p, shard);
      if (used + need > budget) {
        (side_left ? left_open : right_open) = false;
        continue;
      }
      used += need;
      st.backup_bytes += need;
      st.backup_shards.push_back(shard);
      if (side_left) {
        left_open = --left >= 0;
      } else {
        right_open = ++right < n;
      }
    }
    std::sort(st.backup_shards.begin(), st.backup_shards.end());
  }
  return plan;
}

namespace {
// GLPK keeps an environment per thread; the daemon solves on several threads (a request handler, the load-balancing
// monitor), so each solve releases its thread's environment when it returns. No GLPK object outlives a solve.
struct GlpkEnvironmentRelease {
  ~GlpkEnvironmentRelease() { glp_free_env(); }
};
}  // namespace

namespace {

Result<Plan> solve_with_head(const PlacementProblem& p, const SolveOptions& options);

// One solve per device that can hold shard 0 as the head; the incumbent head (p.head) is kept unless another is
// better by more than the margin. Errors are the incumbent's when no candidate has a plan.
Result<Plan> solve_choosing_head(const PlacementProblem& p, const SolveOptions& options) {
  Result<Plan> best = solve_with_head(p, options);
  const int incumbent = p.head;
  for (int d = 0; d < p.num_devices(); ++d) {
    if (d == incumbent || shard_memory(p, 0) > p.devices[d].memory_bytes) continue;
    PlacementProblem candidate = p;
    candidate.head = d;
    Result<Plan> plan = solve_with_head(candidate, options);
    if (!plan.ok()) continue;
    const bool incumbent_best = best.ok() && best->stages[0].device == incumbent;
    const double bar = best.ok() ? best->objective_value() * (incumbent_best ? 1 - options.head_margin : 1) : 0;
    if (!best.ok() || plan->objective_value() < bar) best = std::move(plan);
  }
  if (best.ok() && best->stages[0].device != incumbent) {
    best->note += std::string(best->note.empty() ? "" : "; ") + "head " + p.devices[best->stages[0].device].name +
                  " chosen over " + p.devices[incumbent].name;
  }
  return best;
}

}  // namespace

Result<Plan> solve_placement(const PlacementProblem& p, const SolveOptions& options) {
  GlpkEnvironmentRelease release_glpk_environment;
  LL_TRY_STATUS(validate_problem(p));
  if (options.choose_head && p.num_devices() > 1) return solve_choosing_head(p, options);
  return solve_with_head(p, options);
}

namespace {

Result<Plan> solve_with_head(const PlacementProblem& p, const SolveOptions& options) {
  LL_TRY_STATUS(check_memory(p));
  const Objective objective = options.objective;
  const int nd = p.num_devices();
  const std::string infeasible_links =
      "infeasible: the devices hold enough memory in total, but no contiguous split fits their budgets over the "
      "available links";

  Result<Plan> result = make_error("no solver ran");
  std::string note;
  if (options.method == Method::kDp) {
    result = solve_exact_dp(p, objective);
  } else {
    MipOptions mip;
    mip.time_limit_s = options.time_limit_s;
    auto seed = heuristic_plan(p, objective);
    if (seed.ok()) mip.incumbent = *seed;
    result = solve_mip(p, objective, mip);
    if (!result.ok() && result.error().rfind("infeasible", 0) == 0) return make_error(infeasible_links);
    const bool proven = result.ok() && result->optimal;
    if (!proven && options.method == Method::kAuto && nd <= kMaxDpDevices) {  // the DP checks its state limit
      auto dp = solve_exact_dp(p, objective);
      if (dp.ok()) {
        note = "GLPK did not prove optimality" + (result.ok() ? std::string() : " (" + result.error() + ")") +
               "; exact DP used";
        result = std::move(dp);
      }
    } else if (!result.ok() && seed.ok()) {
      note = "GLPK: " + result.error() + "; heuristic plan used";
      result = std::move(seed);
    }
    if (result.ok() && result->solver.rfind("glpk", 0) == 0 && nd <= options.cross_check_max_devices) {
      auto dp = solve_exact_dp(p, objective);
      if (dp.ok() && same_value(dp->objective_value(), result->objective_value())) {
        note = "exact DP agrees (" + seconds_text(dp->objective_value()) + ")";
      } else if (dp.ok() && dp->objective_value() < result->objective_value()) {
        note = "exact DP found a better plan than GLPK (" + seconds_text(dp->objective_value()) + " vs " +
               seconds_text(result->objective_value()) + "); DP plan used";
        result = std::move(dp);
      } else if (dp.ok()) {
        note = "exact DP is worse than GLPK?! (" + seconds_text(dp->objective_value()) + ")";
      } else {
        note = "exact DP: " + dp.error();
      }
    }
  }
  if (!result.ok()) {
    if (result.error().rfind("infeasible", 0) == 0) return make_error(infeasible_links);
    return result;
  }
  Plan plan = std::move(result).value();
  // Throughput tie-break: among plans with the optimal bottleneck, the one with the lowest one-stream latency.
  if (objective == Objective::kThroughput && plan.optimal && plan.solver.rfind("glpk", 0) == 0 &&
      options.tie_break_s > 0) {
    MipOptions second;
    second.time_limit_s = options.tie_break_s;
    second.stage_cap_s = plan.bottleneck_s * (1 + 1e-9);
    second.incumbent = plan;
    second.incumbent->objective = Objective::kLatency;
    auto better = solve_mip_runs(p, Objective::kLatency, second);
    if (better.ok() && better->latency_s < plan.latency_s * (1 - 1e-9) &&
        better->bottleneck_s <= plan.bottleneck_s * (1 + 1e-9)) {
      const std::string how = better->optimal ? "minimised" : "lowered (time limit)";
      better->objective = Objective::kThroughput;
      better->solver = plan.solver;
      better->status = plan.status;
      better->optimal = true;
      better->solve_seconds = plan.solve_seconds + better->solve_seconds;
      better->solver_objective_s = plan.solver_objective_s;
      better->solver_bound_s = plan.solver_bound_s;
      plan = std::move(better).value();
      note += std::string(note.empty() ? "" : "; ") + "one-stream latency " + how + " at the optimal bottleneck";
    }
  }
  plan.note = note;
  if (options.backups) plan = add_backup_shards(p, std::move(plan));
  return plan;
}

}  // namespace

}  // namespace ll::placement
