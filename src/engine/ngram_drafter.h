// NgramDrafter: prompt-lookup drafting. The last n tokens of a session (n from max_ngram down to min_ngram) are looked
// up in its earlier tokens; the tokens that followed their latest earlier occurrence are the draft. Stories, code and
// answers that quote their prompt repeat themselves, so this drafts well with no model and no memory beyond the
// session's own tokens. Stateless. Thread-safety: const after construction.
#pragma once

#include "engine/drafter.h"

namespace ll {

class NgramDrafter final : public Drafter {
 public:
  explicit NgramDrafter(int max_ngram = 3, int min_ngram = 1) : max_ngram_(max_ngram), min_ngram_(min_ngram) {}
  [[nodiscard]] Result<std::vector<int32_t>> draft(uint64_t session, const std::vector<int32_t>& context,
                                                   int k) override;
  [[nodiscard]] std::string name() const override { return "ngram"; }

 private:
  int max_ngram_;
  int min_ngram_;
};

}  // namespace ll
