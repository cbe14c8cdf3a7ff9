// Prefill chunks: how a prompt is cut into steps. A long prompt crosses a ring of stages as several steps so that
// stage k computes chunk i while stage k-1 computes chunk i+1, and decode steps of other sessions run between them.
// A position's numbers depend on the shape of the step that computed it (docs/pipeline.md, "Exact replay"), so every
// place that computes a prompt — the local engine, the head of a ring, a replay — cuts it with this one function.
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "lingualinked/result.h"

namespace ll {

// Tokens per prefill step; 0 sends a prompt as one step. Chosen by measurement (docs/performance.md, "Chunked
// prefill").
inline constexpr int kDefaultPrefillChunk = 32;
// The smallest chunk accepted: stages bound the steps a session may have waiting by context / this (pipeline).
inline constexpr int kMinPrefillChunk = 32;
inline constexpr int kMaxPrefillChunk = 4096;

// One step of a prompt: positions [begin, end).
struct PrefillChunk {
  int begin = 0;
  int end = 0;
  bool operator==(const PrefillChunk& o) const { return begin == o.begin && end == o.end; }
};

// The prompt's steps: `chunk` tokens each from position 0, the last one holding the rest; one step when `chunk` is 0
// or the prompt fits. Empty for an empty prompt.
[[nodiscard]] std::vector<PrefillChunk> prefill_chunks(int prompt_tokens, int chunk);

// 0, or kMinPrefillChunk..kMaxPrefillChunk; the error names the value.
[[nodiscard]] Status validate_prefill_chunk(int chunk);

}  // namespace ll
