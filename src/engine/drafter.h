// Drafter: proposes the tokens likely to follow a session's text, for speculative decoding (docs/pipeline.md,
// "Speculative decoding"). A draft is only a guess: the target model verifies every drafted token in one step, and
// what it would not have produced itself is thrown away, so a drafter changes speed, never output. Two kinds: n-gram
// lookup in the session's own tokens (ngram_drafter.h) and a small draft model run on the head (model_drafter.h).
// Thread-safety: none; a drafter is called from one thread (the head's stage loop, or the local engine).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lingualinked/result.h"

namespace ll {

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Up to `k` tokens to follow `context` (the session's prompt and generated tokens so far, in order). Fewer, or
  // none, when the drafter has no good guess. A session's contexts only ever grow, or shrink back to a prefix and
  // grow again; a drafter may keep per-session state keyed by `session` for that.
  [[nodiscard]] virtual Result<std::vector<int32_t>> draft(uint64_t session, const std::vector<int32_t>& context,
                                                           int k) = 0;
  // The session ended: drop what the drafter keeps for it.
  virtual void forget(uint64_t session) { (void)session; }
  // For logs and the done message: "ngram" or "draft:<name>".
  [[nodiscard]] virtual std::string name() const = 0;
};

}  // namespace ll
