#include "engine/speculation.h"

#include <algorithm>
#include <cmath>

namespace ll {

Status validate_speculation(const std::string& mode, int draft_tokens) {
  if (mode != "off" && mode != "ngram" && !(mode.rfind("draft:", 0) == 0 && mode.size() > 6)) {
    return make_error("speculate must be off, ngram or draft:<model>, not '" + mode + "'");
  }
  if (draft_tokens < 0 || draft_tokens > kMaxDraftTokens) {
    return make_error("draft-tokens must be in 0.." + std::to_string(kMaxDraftTokens) + ", not " +
                      std::to_string(draft_tokens));
  }
  return Status::Ok();
}

Result<Verdict> verify_draft(const std::vector<float>& logits, int vocab_size, const std::vector<int32_t>& draft,
                             const Sampler& sampler, int first_position) {
  const size_t rows = draft.size() + 1;
  const size_t vocab = vocab_size > 0 ? static_cast<size_t>(vocab_size) : 0;
  if (vocab == 0 || logits.size() != rows * vocab) {
    return make_error("a verified step needs " + std::to_string(rows) + " rows of logits of " + std::to_string(vocab) +
                      ", got " + std::to_string(logits.size()) + " values");
  }
  Verdict verdict;
  if (draft.empty()) {  // a plain decode step: no row to cut out
    verdict.token = sampler.sample(logits, first_position);
    return verdict;
  }
  for (size_t i = 0; i < rows; ++i) {
    const std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(i * vocab),
                                 logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab));
    verdict.token = sampler.sample(row, first_position + static_cast<int>(i));
    if (i == draft.size() || verdict.token != draft[i]) break;
    ++verdict.accepted;
  }
  return verdict;
}

Result<std::vector<int32_t>> next_draft(Drafter& drafter, DraftLength& length, uint64_t session,
                                        const std::vector<int32_t>& context, int room, int vocab) {
  const int k = std::min(length.next(), room);
  if (k <= 0) return std::vector<int32_t>{};
  LL_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, drafter.draft(session, context, k));
  if (static_cast<int>(tokens.size()) > k) tokens.resize(static_cast<size_t>(k));
  tokens.erase(std::find_if(tokens.begin(), tokens.end(), [vocab](int32_t t) { return t < 0 || t >= vocab; }),
               tokens.end());
  return tokens;
}

int DraftLength::next() {
  int best = 0;
  double best_value = 1.0;  // K = 0: one token per step of cost 1
  const double a = std::min(acceptance_, 0.999);
  for (int k = 1; k <= max_tokens_; ++k) {
    // Expected tokens from k drafts accepted in order with probability a each, plus the verified token.
    const double tokens = (1.0 - std::pow(a, k + 1)) / (1.0 - a);
    const double value = tokens / (1.0 + kRowCost * k);
    if (value > best_value * 1.0001) {
      best = k;
      best_value = value;
    }
  }
  if (best == 0 && max_tokens_ > 0 && ++idle_steps_ >= kProbeEvery) {
    idle_steps_ = 0;
    return 1;
  }
  return best;
}

void DraftLength::observe(int drafted, int accepted) {
  if (drafted <= 0) return;
  // A step stops at the first wrong token: it tried min(accepted + 1, drafted) tokens and `accepted` of them stood.
  // That per-token rate is what the expected tokens of a K-token draft follow.
  const double tried = std::min(accepted + 1, drafted);
  acceptance_ = 0.7 * acceptance_ + 0.3 * (accepted / tried);
}

}  // namespace ll
