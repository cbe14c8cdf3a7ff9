// Exact DP for placement. A state (j, b, U) means: the next stage starts at shard j on device b, and U (which holds
// b and the head) is the set of devices used so far; its value is the best objective over the finished stages, whose
// times already include their transfer to the next device. Thread-safe (no shared state).
#include "placement/exact_dp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "placement/cost_model.h"

namespace ll::placement {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Value {
  double primary = kInf;    // the objective so far
  double secondary = kInf;  // sum of stage times (tie-break for throughput)
};

bool better(const Value& a, const Value& b) {
  if (b.primary == kInf) return a.primary < kInf;
  const double tol = 1e-12 * std::max(1.0, std::abs(b.primary));
  if (a.primary < b.primary - tol) return true;
  if (a.primary > b.primary + tol) return false;
  return a.secondary < b.secondary - 1e-12 * std::max(1.0, std::abs(b.secondary));
}

Value combine(Objective objective, const Value& v, double t) {
  if (objective == Objective::kLatency) return Value{v.primary + t, v.secondary + t};
  return Value{std::max(v.primary, t), v.secondary + t};
}

struct Back {
  int32_t prev = -1;  // state index of the previous stage, -1 for the start
};

}  // namespace

Result<Plan> solve_exact_dp(const PlacementProblem& p, Objective objective) {
  LL_TRY_STATUS(validate_problem(p));
  const auto start = std::chrono::steady_clock::now();
  const int n = p.num_shards();
  const int nd = p.num_devices();
  if (nd > kMaxDpDevices) {
    return make_error("exact DP: " + std::to_string(nd) + " devices is more than its limit of " +
                      std::to_string(kMaxDpDevices));
  }
  const int64_t subsets = int64_t{1} << nd;
  const int64_t num_states = static_cast<int64_t>(n) * nd * subsets;
  if (num_states > kMaxDpStates) {
    return make_error("exact DP: " + std::to_string(num_states) +
                      " states (shards x devices x 2^devices) is more than " + "its limit of " +
                      std::to_string(kMaxDpStates));
  }
  auto index = [&](int j, int b, int64_t mask) { return (static_cast<int64_t>(j) * nd + b) * subsets + mask; };

  std::vector<Value> value(num_states);
  std::vector<Back> back(num_states);
  const int64_t head_mask = int64_t{1} << p.head;
  value[index(0, p.head, head_mask)] = Value{0, 0};

  Value best_final;
  int64_t best_state = -1;
  int best_last = -1;

  for (int j = 0; j < n; ++j) {
    for (int b = 0; b < nd; ++b) {
      for (int64_t mask = 0; mask < subsets; ++mask) {
        const int64_t si = index(j, b, mask);
        const Value v = value[si];
        if (v.primary == kInf) continue;
        double compute = 0;
        uint64_t memory = 0;
        for (int k = j; k < n; ++k) {
          compute += shard_seconds(p, k, b);
          memory += shard_memory(p, k);
          if (memory > p.devices[b].memory_bytes) break;
          if (k == n - 1) {
            double t = compute;
            if (b != p.head) {
              if (!p.link(b, p.head).present) break;
              t += transfer_seconds(p, b, p.head, kTokenIdBytes);
            }
            const Value f = combine(objective, v, t);
            if (best_state < 0 || better(f, best_final)) {
              best_final = f;
              best_state = si;
              best_last = k;
            }
            break;
          }
          const uint64_t out = stage_output_bytes(p, k);
          for (int c = 0; c < nd; ++c) {
            if ((mask >> c) & 1) continue;
            if (!p.link(b, c).present) continue;
            const double t = compute + transfer_seconds(p, b, c, out);
            const Value nv = combine(objective, v, t);
            const int64_t ti = index(k + 1, c, mask | (int64_t{1} << c));
            if (better(nv, value[ti])) {
              value[ti] = nv;
              back[ti].prev = static_cast<int32_t>(si);
            }
          }
        }
      }
    }
  }
  if (best_state < 0) return make_error("infeasible: no placement satisfies memory and links");

  // Walk back from the final state to recover the stages.
  std::vector<StageSpan> spans;
  int last = best_last;
  for (int64_t s = best_state; s >= 0; s = back[s].prev) {
    const int j = static_cast<int>(s / (nd * subsets));
    const int b = static_cast<int>((s / subsets) % nd);
    spans.push_back(StageSpan{b, j, last});
    last = j - 1;
    if (j == 0) break;
  }
  std::reverse(spans.begin(), spans.end());
  LL_ASSIGN_OR_RETURN(Plan plan, evaluate_plan(p, spans, objective));
  plan.solver = "dp";
  plan.status = "optimal";
  plan.optimal = true;
  plan.solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}

}  // namespace ll::placement
