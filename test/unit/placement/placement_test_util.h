// Test helpers for the placement tests: instance builders and an independent brute-force solver that prices plans
// straight from the cost model text in docs/placement.md (not through cost_model.cc). Not thread-safe (uses the
// caller's RNG).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "placement/problem.h"

namespace ll::placement::testing {

inline ShardInfo make_shard(int id, uint64_t bytes, double flops, uint64_t out_bytes, uint64_t kv = 0) {
  ShardInfo s;
  s.id = id;
  s.kind = ShardKind::kBlock;
  s.layer = id;
  s.bytes = bytes;
  s.flops_per_token = flops;
  s.out_bytes_per_token = out_bytes;
  s.kv_bytes_per_token = kv;
  return s;
}

inline Device make_device(std::string name, uint64_t memory, double flops) {
  Device d;
  d.name = std::move(name);
  d.memory_bytes = memory;
  d.flops = flops;
  return d;
}

// A problem with `devices`, full mesh of identical links, `n` identical shards.
inline PlacementProblem uniform_problem(std::vector<Device> devices, int n, uint64_t shard_bytes, double shard_flops,
                                        uint64_t out_bytes, double bandwidth = 1e8, double latency = 1e-3) {
  PlacementProblem p;
  for (int i = 0; i < n; ++i) p.shards.push_back(make_shard(i, shard_bytes, shard_flops, out_bytes));
  p.devices = std::move(devices);
  p.links.assign(p.devices.size(), std::vector<Link>(p.devices.size()));
  for (int a = 0; a < p.num_devices(); ++a) {
    for (int b = 0; b < p.num_devices(); ++b) {
      if (a != b) p.set_link(a, b, bandwidth, latency);
    }
  }
  return p;
}

// Random small instance: asymmetric links (some missing), memory often tight.
inline PlacementProblem random_problem(std::mt19937_64& rng, int max_devices, int max_shards) {
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  PlacementProblem p;
  const int n = pick(1, max_shards);
  const int nd = pick(1, max_devices);
  p.context = static_cast<uint64_t>(pick(0, 4));
  uint64_t need = 0;
  for (int i = 0; i < n; ++i) {
    p.shards.push_back(make_shard(i, pick(1, 20), uni(1e6, 1e8), static_cast<uint64_t>(pick(1000, 2000000)),
                                  static_cast<uint64_t>(pick(0, 2))));
    need += p.shards.back().bytes + p.shards.back().kv_bytes_per_token * p.context;
  }
  for (int d = 0; d < nd; ++d) {
    // Tight: each device holds 0.7/nd .. 2.4/nd of the model, so the sum is often just about enough.
    const double share = uni(0.7, 2.4) * static_cast<double>(need) / nd;
    p.devices.push_back(make_device("d" + std::to_string(d), static_cast<uint64_t>(share), uni(1e9, 1e10)));
  }
  p.head = pick(0, nd - 1);
  p.links.assign(nd, std::vector<Link>(nd));
  for (int a = 0; a < nd; ++a) {
    for (int b = 0; b < nd; ++b) {
      if (a != b && uni(0, 1) < 0.8) p.set_link(a, b, uni(1e6, 1e8), uni(0, 5e-3));
    }
  }
  return p;
}

struct BruteResult {
  bool feasible = false;
  double best = std::numeric_limits<double>::infinity();
};

// Every sequence of distinct devices starting at the head, every split into non-empty contiguous runs.
inline BruteResult brute_force(const PlacementProblem& p, Objective objective) {
  const int n = p.num_shards();
  const int nd = p.num_devices();
  BruteResult result;
  std::vector<int> seq{p.head};
  std::vector<bool> used(nd, false);
  used[p.head] = true;
  auto price = [&](const std::vector<int>& cuts) {  // cuts[s] = first shard of stage s, cuts.back() = n
    const int k = static_cast<int>(seq.size());
    double sum = 0, worst = 0;
    for (int s = 0; s < k; ++s) {
      const int dev = seq[s];
      double t = 0;
      uint64_t mem = 0;
      for (int i = cuts[s]; i < cuts[s + 1]; ++i) {
        const Device& d = p.devices[dev];
        t += static_cast<int>(d.shard_seconds.size()) == n && d.shard_seconds[i] >= 0
                 ? d.shard_seconds[i]
                 : p.shards[i].flops_per_token / d.flops;
        mem += p.shards[i].bytes + p.shards[i].kv_bytes_per_token * p.context;
      }
      if (mem > p.devices[dev].memory_bytes) return;
      if (k > 1) {
        const int next = s + 1 < k ? seq[s + 1] : p.head;
        const Link& l = p.links[dev][next];
        if (!l.present) return;
        const double bytes = s + 1 < k ? static_cast<double>(p.shards[cuts[s + 1] - 1].out_bytes_per_token) : 4.0;
        t += bytes / l.bandwidth_bytes_per_s + l.latency_s;
      }
      sum += t;
      worst = std::max(worst, t);
    }
    result.feasible = true;
    result.best = std::min(result.best, objective == Objective::kLatency ? sum : worst);
  };
  std::function<void()> visit = [&] {
    const int k = static_cast<int>(seq.size());
    if (k <= n) {
      // All compositions of n into k parts: choose k-1 cut points among 1..n-1.
      std::vector<int> cuts(k + 1);
      cuts[0] = 0;
      cuts[k] = n;
      std::function<void(int, int)> choose = [&](int s, int from) {
        if (s == k) {
          price(cuts);
          return;
        }
        for (int c = from; c <= n - (k - s); ++c) {
          cuts[s] = c;
          choose(s + 1, c + 1);
        }
      };
      choose(1, 1);
    }
    for (int d = 0; d < nd; ++d) {
      if (used[d]) continue;
      used[d] = true;
      seq.push_back(d);
      visit();
      seq.pop_back();
      used[d] = false;
    }
  };
  visit();
  return result;
}

inline bool close(double a, double b, double rel = 2e-6) {
  return std::abs(a - b) <= rel * std::max({1e-12, std::abs(a), std::abs(b)});
}

}  // namespace ll::placement::testing
