// Speculative decoding, the parts every place that decodes shares (the local engine, the head and tail of a ring):
// the settings a generation asks for, the verification of a drafted step, and the per-session choice of how many
// tokens to draft. docs/pipeline.md, "Speculative decoding", says why the output is exactly the output without it.
// Thread-safety: pure functions; a DraftLength belongs to one session.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/drafter.h"
#include "engine/sampler.h"
#include "lingualinked/result.h"

namespace ll {

// The most drafted tokens one step verifies (bounds the rows of a step and the wire's `draft` list).
inline constexpr int kMaxDraftTokens = 16;
// Chosen by measurement (docs/performance.md, "Speculative decoding").
inline constexpr int kDefaultDraftTokens = 6;
inline constexpr const char* kDefaultSpeculateMode = "ngram";

struct SpeculationOptions {
  std::string mode = "off";                // "off" | "ngram" | "draft:<name>" (a draft model package the engine holds)
  int draft_tokens = kDefaultDraftTokens;  // K: the most tokens a step drafts (adaptive below it)
  bool enabled() const { return mode != "off" && draft_tokens > 0; }
};

// "off", "ngram" or "draft:<name>" with K in 1..kMaxDraftTokens (K 0 means off); the error names the bad part.
[[nodiscard]] Status validate_speculation(const std::string& mode, int draft_tokens);

// What a verified step yields: the first `accepted` drafted tokens stand, and `token` follows them (the target's own
// choice where the draft went wrong, or the token after the whole draft).
struct Verdict {
  int accepted = 0;
  int32_t token = 0;
};

// Verifies `draft` against the target's logits for the step's last draft.size() + 1 positions (row-major
// [draft.size() + 1, vocab]; any other size is an error). Row i's logits choose the token at `first_position + i`
// exactly as a decode step would (the sampler draws with the seed of that position), and the draft stands as long as it
// agrees: the tokens out are the tokens decoding one by one would give, greedy or sampled.
[[nodiscard]] Result<Verdict> verify_draft(const std::vector<float>& logits, int vocab,
                                           const std::vector<int32_t>& draft, const Sampler& sampler,
                                           int first_position);

class DraftLength;

// The draft for a session's next step: up to min(length.next(), room) tokens from `drafter` (none when room <= 0),
// cut at the first token outside [0, vocab) (a draft model of another vocabulary). The one rule the local engine and
// the head of a ring share.
[[nodiscard]] Result<std::vector<int32_t>> next_draft(Drafter& drafter, DraftLength& length, uint64_t session,
                                                      const std::vector<int32_t>& context, int room, int vocab);

// How many tokens a session drafts next: the K that maximises the tokens a step is expected to yield per unit of
// its cost, from the session's recent acceptance rate. A session whose drafts are never accepted drafts nothing,
// except one token every kProbeEvery steps to notice when the text turns predictable.
class DraftLength {
 public:
  explicit DraftLength(int max_tokens) : max_tokens_(max_tokens) {}
  [[nodiscard]] int next();
  void observe(int drafted, int accepted);
  [[nodiscard]] double acceptance() const { return acceptance_; }

  static constexpr int kProbeEvery = 16;
  // The cost of one more row in a step, relative to the step: decoding is memory-bound and a ring's step is mostly
  // links, so a row costs little (measured: docs/performance.md, "Speculative decoding").
  static constexpr double kRowCost = 0.03;

 private:
  int max_tokens_;
  double acceptance_ = 0.6;  // optimistic: a fresh session tries drafting
  int idle_steps_ = 0;
};

}  // namespace ll
