#include "engine/prefill_chunks.h"

#include <algorithm>
#include <string>

namespace ll {

std::vector<PrefillChunk> prefill_chunks(int prompt_tokens, int chunk) {
  std::vector<PrefillChunk> out;
  if (prompt_tokens <= 0) return out;
  const int step = chunk > 0 ? chunk : prompt_tokens;
  for (int begin = 0; begin < prompt_tokens; begin += step)
    out.push_back({begin, std::min(prompt_tokens, begin + step)});
  return out;
}

Status validate_prefill_chunk(int chunk) {
  if (chunk == 0 || (chunk >= kMinPrefillChunk && chunk <= kMaxPrefillChunk)) return Status::Ok();
  return make_error("prefill chunk must be 0 (off) or " + std::to_string(kMinPrefillChunk) + ".." +
                    std::to_string(kMaxPrefillChunk) + " tokens, got " + std::to_string(chunk));
}

}  // namespace ll
