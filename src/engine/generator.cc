#include "engine/generator.h"

#include <chrono>

namespace ll {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Closes the session on every exit path, so no KV cache outlives its generation.
class SessionGuard {
 public:
  SessionGuard(ShardRange& model, uint64_t id) : model_(model), id_(id) {}
  ~SessionGuard() { model_.close_session(id_); }

 private:
  ShardRange& model_;
  uint64_t id_;
};

}  // namespace

double GenerationResult::prefill_tokens_per_s() const {
  return prefill_seconds > 0 ? static_cast<double>(prompt_tokens.size()) / prefill_seconds : 0;
}

double GenerationResult::decode_tokens_per_s() const {
  return decode_seconds > 0 && tokens.size() > 1 ? static_cast<double>(tokens.size() - 1) / decode_seconds : 0;
}

std::vector<int32_t> prompt_tokens(const Tokenizer& tokenizer, const std::string& prompt) {
  return tokenizer.encode(prompt, /*add_bos=*/true);
}

Result<GenerationResult> Generator::generate(const std::string& prompt, const GenerateOptions& options,
                                             const TokenCallback& on_token) {
  return generate_tokens(prompt_tokens(tokenizer_, prompt), options, on_token);
}

Result<GenerationResult> Generator::generate_tokens(std::vector<int32_t> prompt, const GenerateOptions& options,
                                                    const TokenCallback& on_token) {
  const int context_length = manifest_.hparams.context_length;
  LL_TRY_STATUS(validate_sampling(options.sampling));
  LL_TRY_STATUS(validate_prefill_chunk(options.prefill_chunk));
  LL_TRY_STATUS(validate_speculation(options.speculation.mode, options.speculation.draft_tokens));
  if (options.max_tokens < 0) return make_error("max-tokens must be >= 0");
  if (prompt.empty()) return make_error("empty prompt token list");
  if (static_cast<int>(prompt.size()) >= context_length) {
    return make_error("prompt is " + std::to_string(prompt.size()) + " tokens; the model's context holds " +
                      std::to_string(context_length) + " (including at least one generated token)");
  }
  GenerationResult result;
  result.prompt_tokens = prompt;
  const uint64_t session = next_session_++;
  LL_TRY_STATUS(model_.open_session(session));
  SessionGuard guard(model_, session);
  Sampler sampler(options.sampling);
  TextStreamer streamer;

  // Every chunk but the last only fills the caches; the last one's logits give the first token.
  const std::vector<PrefillChunk> chunks = prefill_chunks(static_cast<int>(prompt.size()), options.prefill_chunk);
  auto start = std::chrono::steady_clock::now();
  StepInput step;
  for (size_t i = 0; i + 1 < chunks.size() && options.max_tokens > 0; ++i) {
    step.start_pos = chunks[i].begin;
    step.tokens.assign(prompt.begin() + chunks[i].begin, prompt.begin() + chunks[i].end);
    LL_ASSIGN_OR_RETURN(Tensor32 ignored, model_.forward(session, step));
    (void)ignored;
  }
  step.start_pos = chunks.back().begin;
  step.tokens.assign(prompt.begin() + chunks.back().begin, prompt.end());
  auto decode_start = start;
  std::vector<int32_t> context = prompt;  // prompt and generated tokens: what a drafter continues
  const bool speculating = options.drafter && options.speculation.enabled();
  DraftLength draft_length(options.speculation.draft_tokens);
  result.stop_reason = "max_tokens";
  bool ended = options.max_tokens == 0;
  // Takes the token sampled for `position`; false when the generation ends with it.
  auto take = [&](int32_t token, int position) {
    // llama2.c models mark the end of a story with EOS or a new BOS; both end the text.
    if (!options.ignore_eos && (token == tokenizer_.eos_id() || token == tokenizer_.bos_id())) {
      result.stop_reason = "eos";
      return false;
    }
    const int32_t previous = context.back();
    result.tokens.push_back(token);
    context.push_back(token);
    std::string text = streamer.push(tokenizer_.decode_piece(previous, token));
    result.text += text;
    if (on_token && !on_token(token, text)) {
      result.stop_reason = "cancelled";
      return false;
    }
    if (static_cast<int>(result.tokens.size()) >= options.max_tokens) return false;  // stop_reason max_tokens
    if (position + 1 >= context_length) {
      result.stop_reason = "context";
      return false;
    }
    return true;
  };
  while (!ended) {
    // The draft never runs past max_tokens or the context: its last row's token must still be wanted.
    std::vector<int32_t> draft;
    if (speculating && !result.tokens.empty()) {
      const int room = std::min(options.max_tokens - static_cast<int>(result.tokens.size()) - 1,
                                context_length - 2 - step.start_pos);
      LL_ASSIGN_OR_RETURN(
          draft, next_draft(*options.drafter, draft_length, session, context, room, manifest_.hparams.vocab_size));
    }
    step.tokens.insert(step.tokens.end(), draft.begin(), draft.end());
    step.decode_rows = draft.empty() ? 0 : step.step_tokens();
    step.logit_rows = static_cast<int>(draft.size()) + 1;
    LL_ASSIGN_OR_RETURN(Tensor32 logits, model_.forward(session, step));
    ++result.decode_steps;
    const int first_position = step.start_pos + step.step_tokens() - static_cast<int>(draft.size());
    if (result.tokens.empty()) {
      result.prefill_seconds = seconds_since(start);
      decode_start = std::chrono::steady_clock::now();
    }
    LL_ASSIGN_OR_RETURN(Verdict verdict,
                        verify_draft(logits.values, manifest_.hparams.vocab_size, draft, sampler, first_position));
    if (!draft.empty()) {
      draft_length.observe(static_cast<int>(draft.size()), verdict.accepted);
      result.drafted += static_cast<int>(draft.size());
      result.accepted += verdict.accepted;
    }
    int position = first_position;
    for (int i = 0; i < verdict.accepted && !ended; ++i) ended = !take(draft[static_cast<size_t>(i)], position++);
    if (!ended) ended = !take(verdict.token, position);
    // The next step starts at the token just taken; cache entries of rejected drafted rows beyond it are
    // overwritten by later steps before any position attends to them (docs/pipeline.md, "Speculative decoding").
    step.start_pos = position;
    step.tokens.assign(1, verdict.token);
  }
  if (speculating) options.drafter->forget(session);
  std::string rest = streamer.flush();
  if (!rest.empty()) {
    result.text += rest;
    if (on_token) on_token(-1, rest);
  }
  result.decode_seconds = result.tokens.size() > 1 ? seconds_since(decode_start) : 0;
  return result;
}

}  // namespace ll
