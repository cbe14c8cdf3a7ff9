#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ll {

Status validate_sampling(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || p.temperature > 100.0f) return make_error("temperature must be in [0, 100]");
  if (p.top_k < 0) return make_error("top-k must be >= 0");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return make_error("top-p must be in (0, 1]");
  return Status::Ok();
}

double position_uniform(uint64_t seed, uint64_t position) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (position + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

int32_t Sampler::sample(const std::vector<float>& logits, int position) const {
  const int n = static_cast<int>(logits.size());
  if (n == 0) return 0;
  if (params_.temperature == 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  // Candidates in descending logit order (ties by id, so the order is deterministic).
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int keep = (params_.top_k > 0 && params_.top_k < n) ? params_.top_k : n;
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), by_logit);
  order.resize(keep);
  std::vector<double> probs(keep);
  const double top = logits[order[0]];
  double total = 0;
  for (int i = 0; i < keep; ++i) {
    probs[i] = std::exp((logits[order[i]] - top) / params_.temperature);
    total += probs[i];
  }
  if (params_.top_p < 1.0f) {
    double cumulative = 0;
    int cut = keep;
    for (int i = 0; i < keep; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= params_.top_p) {
        cut = i + 1;
        break;
      }
    }
    probs.resize(cut);
    total = std::accumulate(probs.begin(), probs.end(), 0.0);
  }
  double r = position_uniform(params_.seed, static_cast<uint64_t>(position)) * total;
  for (size_t i = 0; i < probs.size(); ++i) {
    r -= probs[i];
    if (r < 0) return order[i];
  }
  return order[probs.size() - 1];
}

}  // namespace ll
