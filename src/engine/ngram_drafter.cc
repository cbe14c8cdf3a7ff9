#include "engine/ngram_drafter.h"

#include <algorithm>

namespace ll {

Result<std::vector<int32_t>> NgramDrafter::draft(uint64_t session, const std::vector<int32_t>& context, int k) {
  (void)session;
  std::vector<int32_t> out;
  const int n_tokens = static_cast<int>(context.size());
  if (k <= 0) return out;
  for (int n = std::min(max_ngram_, n_tokens - 1); n >= min_ngram_; --n) {
    const int suffix = n_tokens - n;  // the n-gram to find: context[suffix, n_tokens)
    // Latest earlier occurrence first: recent text predicts the next tokens best.
    for (int start = suffix - 1; start >= 0; --start) {
      if (!std::equal(context.begin() + start, context.begin() + start + n, context.begin() + suffix)) continue;
      const int follow = start + n;  // < n_tokens, since start < suffix
      const int take = std::min(k, n_tokens - follow);
      out.assign(context.begin() + follow, context.begin() + follow + take);
      return out;
    }
  }
  return out;
}

}  // namespace ll
