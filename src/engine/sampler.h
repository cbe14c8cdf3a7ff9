// Token sampling: greedy at temperature 0, otherwise temperature, top-k and top-p (nucleus). The random draw for
// position p depends only on (seed, p), so a session replayed from any point — on another device, after a fault —
// samples exactly what an undisturbed run would. Stateless apart from its parameters; thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "lingualinked/result.h"

namespace ll {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  uint64_t seed = 0;
};

[[nodiscard]] Status validate_sampling(const SamplingParams& params);

class Sampler {
 public:
  explicit Sampler(SamplingParams params) : params_(params) {}
  // The token for sequence position `position` (the position the token will occupy) from its logits.
  [[nodiscard]] int32_t sample(const std::vector<float>& logits, int position) const;
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
};

// A uniform double in [0, 1) derived from (seed, position) by SplitMix64.
[[nodiscard]] double position_uniform(uint64_t seed, uint64_t position);

}  // namespace ll
