// Ordered-device DP and the peer rules. Stateless; thread-safe.
#include "placement/heuristics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "placement/cost_model.h"

namespace ll::placement {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double combine(Objective objective, double v, double t) {
  return objective == Objective::kLatency ? v + t : std::max(v, t);
}

// The order with the head first and the others sorted by `key` descending (stable).
template <typename Key>
std::vector<int> head_first_order(const PlacementProblem& p, Key key) {
  std::vector<int> order;
  for (int d = 0; d < p.num_devices(); ++d) {
    if (d != p.head) order.push_back(d);
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) > key(b); });
  order.insert(order.begin(), p.head);
  return order;
}

}  // namespace

Result<Plan> solve_ordered_dp(const PlacementProblem& p, const std::vector<int>& order, Objective objective) {
  const int n = p.num_shards();
  const int m = static_cast<int>(order.size());
  if (m == 0 || order[0] != p.head) return make_error("ordered DP: the order must start with the head");
  // value[j][q]: best objective of finished stages when the next stage starts at shard j on order[q].
  std::vector<double> value(static_cast<size_t>(n) * m, kInf);
  std::vector<int> prev(static_cast<size_t>(n) * m, -1);
  value[0] = 0;
  double best = kInf;
  int best_state = -1;
  for (int j = 0; j < n; ++j) {
    for (int q = 0; q < m; ++q) {
      const double v = value[j * m + q];
      if (v == kInf) continue;
      const int b = order[q];
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
          const double f = combine(objective, v, t);
          if (f < best) {
            best = f;
            best_state = j * m + q;
          }
          break;
        }
        const uint64_t out = stage_output_bytes(p, k);
        for (int r = q + 1; r < m; ++r) {
          const int c = order[r];
          if (!p.link(b, c).present) continue;
          const double nv = combine(objective, v, compute + transfer_seconds(p, b, c, out));
          const int ti = (k + 1) * m + r;
          if (nv < value[ti]) {
            value[ti] = nv;
            prev[ti] = j * m + q;
          }
        }
      }
    }
  }
  if (best_state < 0) return make_error("infeasible: no placement in this device order");
  std::vector<StageSpan> spans;
  int last = n - 1;
  for (int s = best_state; s >= 0; s = prev[s]) {
    const int j = s / m;
    spans.push_back(StageSpan{order[s % m], j, last});
    last = j - 1;
    if (j == 0) break;
  }
  std::reverse(spans.begin(), spans.end());
  return evaluate_plan(p, spans, objective);
}

Result<Plan> heuristic_plan(const PlacementProblem& p, Objective objective) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<int>> orders;
  orders.push_back(head_first_order(p, [](int) { return 0.0; }));
  orders.push_back(head_first_order(p, [&](int d) { return p.devices[d].flops; }));
  orders.push_back(head_first_order(p, [&](int d) { return static_cast<double>(p.devices[d].memory_bytes); }));
  orders.push_back(head_first_order(p, [&](int d) {
    const Link& l = p.link(p.head, d);
    return l.present ? l.bandwidth_bytes_per_s : 0.0;
  }));
  Result<Plan> best = make_error("infeasible: no heuristic placement found");
  for (const auto& order : orders) {
    auto plan = solve_ordered_dp(p, order, objective);
    if (plan.ok() && (!best.ok() || plan->objective_value() < best->objective_value())) best = std::move(plan);
  }
  if (best.ok()) {
    best->solver = "heuristic";
    best->status = "feasible";
    best->solve_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return best;
}

const char* peer_rule_name(PeerRule rule) {
  switch (rule) {
    case PeerRule::kEqual:
      return "equal split";
    case PeerRule::kMemory:
      return "memory-proportional";
    case PeerRule::kFlops:
      return "FLOP/s-proportional";
  }
  return "?";
}

RuleResult apply_peer_rule(const PlacementProblem& p, PeerRule rule, Objective objective) {
  RuleResult out;
  out.rule = rule;
  const int n = p.num_shards();
  std::vector<int> order;
  order.push_back(p.head);
  for (int d = 0; d < p.num_devices(); ++d) {
    if (d != p.head) order.push_back(d);
  }
  if (static_cast<int>(order.size()) > n) order.resize(n);  // at least one shard per device
  const int m = static_cast<int>(order.size());
  std::vector<double> weight(m);
  for (int q = 0; q < m; ++q) {
    const Device& d = p.devices[order[q]];
    weight[q] = rule == PeerRule::kEqual    ? 1.0
                : rule == PeerRule::kMemory ? static_cast<double>(d.memory_bytes)
                                            : d.flops;
  }
  const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
  if (!(total > 0)) {
    out.plan = make_error("rule has no positive weights");
    return out;
  }
  // One shard each, then the remaining n - m by largest remainder of their proportional share.
  std::vector<int> count(m, 1);
  std::vector<double> remainder(m);
  const int extra = n - m;
  int given = 0;
  // Share of the extra shards in proportion to weight, so the totals follow the weights as closely as possible.
  for (int q = 0; q < m; ++q) {
    const double share = extra * weight[q] / total;
    const int whole = static_cast<int>(std::floor(share));
    count[q] += whole;
    given += whole;
    remainder[q] = share - whole;
  }
  std::vector<int> by_remainder(m);
  std::iota(by_remainder.begin(), by_remainder.end(), 0);
  std::stable_sort(by_remainder.begin(), by_remainder.end(), [&](int a, int b) { return remainder[a] > remainder[b]; });
  for (int r = 0; given < extra; ++r, ++given) count[by_remainder[r % m]] += 1;
  int first = 0;
  for (int q = 0; q < m; ++q) {
    out.spans.push_back(StageSpan{order[q], first, first + count[q] - 1});
    first += count[q];
  }
  out.plan = evaluate_plan(p, out.spans, objective);
  if (out.plan.ok()) {
    out.plan->solver = std::string("rule:") + peer_rule_name(rule);
    out.plan->status = "evaluated";
  }
  return out;
}

}  // namespace ll::placement
