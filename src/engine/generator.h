// Generator: the token loop of one generation on a ShardRange that holds the whole model (embed .. head) — the local
// engine. Prefills the prompt in chunks, then decodes with the KV cache — one token per step, or, speculating, a
// drafted run verified in one step — sampling with per-position seeds, and stops at EOS, at max_tokens or at the
// context length. Thread-compatible: one generation
// at a time per Generator.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/drafter.h"
#include "engine/prefill_chunks.h"
#include "engine/sampler.h"
#include "engine/shard_range.h"
#include "engine/speculation.h"
#include "model/manifest.h"
#include "model/tokenizer.h"

namespace ll {

struct GenerateOptions {
  int max_tokens = 256;  // tokens generated, the prompt not counted
  SamplingParams sampling;
  bool ignore_eos = false;                   // benchmarks: always generate max_tokens
  int prefill_chunk = kDefaultPrefillChunk;  // the prompt's steps, as a ring's head cuts them (prefill_chunks.h)
  // Speculative decoding: with a drafter and speculation.enabled(), each decode step verifies up to draft_tokens
  // drafted tokens (engine/speculation.h). The tokens out are the same; only the number of steps changes.
  SpeculationOptions speculation;
  Drafter* drafter = nullptr;
};

struct GenerationResult {
  std::vector<int32_t> prompt_tokens;  // including BOS
  std::vector<int32_t> tokens;         // generated
  std::string text;
  std::string stop_reason;  // "eos" | "max_tokens" | "context" | "cancelled"
  double prefill_seconds = 0;
  double decode_seconds = 0;  // from the first to the last generated token
  int decode_steps = 0;       // forward passes that produced generated tokens (the prefill's last one included)
  int drafted = 0;            // tokens drafted and verified
  int accepted = 0;           // drafted tokens that stood
  double prefill_tokens_per_s() const;
  double decode_tokens_per_s() const;
};

// Called with each generated token and its text (possibly empty while UTF-8 is incomplete); at the end, with token -1
// and any text still held back. Return false to stop.
using TokenCallback = std::function<bool(int32_t token, const std::string& text)>;

// The tokens a prompt becomes: BOS, then the encoded text (an empty prompt is BOS alone).
[[nodiscard]] std::vector<int32_t> prompt_tokens(const Tokenizer& tokenizer, const std::string& prompt);

class Generator {
 public:
  Generator(const Manifest& manifest, const Tokenizer& tokenizer, ShardRange& model)
      : manifest_(manifest), tokenizer_(tokenizer), model_(model) {}

  [[nodiscard]] Result<GenerationResult> generate(const std::string& prompt, const GenerateOptions& options,
                                                  const TokenCallback& on_token);
  [[nodiscard]] Result<GenerationResult> generate_tokens(std::vector<int32_t> prompt, const GenerateOptions& options,
                                                         const TokenCallback& on_token);

 private:
  const Manifest& manifest_;
  const Tokenizer& tokenizer_;
  ShardRange& model_;
  uint64_t next_session_ = 1;
};

}  // namespace ll
