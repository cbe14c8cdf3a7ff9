#include "pipeline/head_sessions.h"

#include <algorithm>

#include "engine/prefill_chunks.h"
#include "engine/sampler.h"

namespace ll::pipeline {
namespace {

SamplingParams to_params(const proto::SamplingWire& s) {
  return SamplingParams{static_cast<float>(s.temperature), static_cast<int>(s.top_k), static_cast<float>(s.top_p),
                        s.seed};
}

}  // namespace

bool same_client(const net::Incoming& a, const net::Incoming& b) {
  // The route alone is not enough: a ZeroMQ peer may choose its routing id. The CURVE key is not spoofable.
  return a.reply_route == b.reply_route && a.via_peer == b.via_peer && a.sender.key == b.sender.key;
}

std::variant<std::vector<int32_t>, proto::DataErrorMsg> HeadSessions::check(const proto::GenerateMsg& request,
                                                                            const StageConfig& config,
                                                                            size_t max_sessions) const {
  using proto::DataErrorMsg;
  if (!config.is_head() || !config.tokenizer || !config.manifest) {
    return DataErrorMsg{"not_ready", "this device is not the head stage of a loaded model"};
  }
  if (Status valid = validate_sampling(to_params(request.sampling)); !valid.ok()) {
    return DataErrorMsg{"bad_request", valid.error()};
  }
  std::vector<int32_t> prompt = config.tokenizer->encode(request.prompt, /*add_bos=*/true);
  const int context = config.manifest->hparams.context_length;
  if (static_cast<int>(prompt.size()) >= context) {
    return DataErrorMsg{"bad_request", "prompt is " + std::to_string(prompt.size()) +
                                           " tokens; the model's context holds " + std::to_string(context)};
  }
  const auto& resume = request.resume_tokens;
  const int64_t vocab = config.manifest->hparams.vocab_size;
  if (static_cast<int64_t>(resume.size()) >= request.max_tokens && !resume.empty()) {
    return DataErrorMsg{"bad_request", "resume: already max_tokens tokens"};
  }
  if (prompt.size() + resume.size() >= static_cast<size_t>(context)) {
    return DataErrorMsg{"bad_request", "resume: prompt and tokens fill the context"};
  }
  for (int64_t t : resume) {
    if (t < 0 || t >= vocab) return DataErrorMsg{"bad_request", "resume: token out of range"};
  }
  if (sessions_.size() >= max_sessions) {
    return DataErrorMsg{"busy", "busy: the plan admits " + std::to_string(max_sessions) +
                                    " generations at once and all are in flight; retry later"};
  }
  return prompt;
}

HeadSession& HeadSessions::open(uint64_t id, net::Incoming client, proto::GenerateMsg request,
                                std::vector<int32_t> prompt, const Tokenizer& tokenizer) {
  HeadSession& session = sessions_[id];
  client.frames.clear();
  session.client = std::move(client);
  session.request = std::move(request);
  session.prompt = std::move(prompt);
  session.started = session.last_reply = clock_.now();
  // A resumed generation: the streamer is primed with the pieces the client already has (their text is not sent
  // again; bytes of a character the lost head still held back come out with the next piece).
  for (int64_t t : session.request.resume_tokens) {
    const int32_t previous = session.generated.empty() ? session.prompt.back() : session.generated.back();
    session.text += session.streamer.push(tokenizer.decode_piece(previous, static_cast<int32_t>(t)));
    session.generated.push_back(static_cast<int32_t>(t));
  }
  if (!session.generated.empty()) session.first_token = session.started;
  return session;
}

HeadSession* HeadSessions::find(uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::vector<uint64_t> HeadSessions::ids() const {
  std::vector<uint64_t> out;
  for (const auto& [id, _] : sessions_) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

TokenOutcome HeadSessions::accept(uint64_t id, int32_t token, int position, const StageConfig& config) {
  HeadSession& s = sessions_.at(id);
  const Tokenizer& tok = *config.tokenizer;
  TokenOutcome outcome;
  if (s.generated.empty()) s.first_token = clock_.now();
  if (!s.request.ignore_eos && (token == tok.eos_id() || token == tok.bos_id())) {
    outcome.streams = false;
    outcome.finish_reason = "eos";
    return outcome;
  }
  const int32_t previous = s.generated.empty() ? s.prompt.back() : s.generated.back();
  s.generated.push_back(token);
  outcome.piece = s.streamer.push(tok.decode_piece(previous, token));
  s.text += outcome.piece;
  s.last_reply = clock_.now();
  if (static_cast<int64_t>(s.generated.size()) >= s.request.max_tokens) {
    outcome.finish_reason = "max_tokens";
  } else if (position + 1 >= config.manifest->hparams.context_length) {
    outcome.finish_reason = "context";
  } else {
    WorkItem item;
    item.session = id;
    item.input.start_pos = position;
    item.input.tokens = {token};
    item.sampling = s.request.sampling;
    item.enqueued = clock_.now();
    outcome.next_step = std::move(item);
  }
  return outcome;
}

void HeadSessions::draft_next(uint64_t id, WorkItem& step, const StageConfig& config) {
  HeadSession& s = sessions_.at(id);
  if (!s.speculation.drafter) return;
  // The step's last row must still choose a wanted token: within max_tokens, and at most the context's last
  // position.
  const int room = std::min(static_cast<int>(s.request.max_tokens) - static_cast<int>(s.generated.size()) - 1,
                            config.manifest->hparams.context_length - 2 - step.input.start_pos);
  std::vector<int32_t> context = s.prompt;
  context.insert(context.end(), s.generated.begin(), s.generated.end());
  add_draft(step, s.speculation, context, room, config.manifest->hparams.vocab_size);
}

std::optional<Ending> HeadSessions::end(uint64_t id, const std::string& reason, int stage_count) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  HeadSession& s = it->second;
  if (s.speculation.drafter) s.speculation.drafter->forget(id);
  Ending ending;
  ending.client = s.client;
  if (reason != "client_gone") {
    ending.rest = s.streamer.flush();
    s.text += ending.rest;
    proto::DoneMsg& done = ending.done;
    done.session = id;
    done.stop_reason = reason;
    done.prompt_tokens.assign(s.prompt.begin(), s.prompt.end());
    done.tokens.assign(s.generated.begin(), s.generated.end());
    done.text = s.text;
    const auto now = clock_.now();
    done.prefill_s = s.generated.empty() ? 0 : to_ms(s.first_token - s.started) / 1000;
    done.decode_s = s.generated.size() > 1 ? to_ms(now - s.first_token) / 1000 : 0;
    done.stages = stage_count;
    done.speculate = s.speculation.drafter ? s.speculation.mode : "off";
    done.drafted = s.speculation.drafted;
    done.accepted = s.speculation.accepted;
    done.decode_steps = s.speculation.steps;
  }
  sessions_.erase(it);
  return ending;
}

// The prompt goes in the chunks it had, then every token generated so far as the one-token decode row it was —
// the same shapes, so bit for bit the same caches and the same next token as the undisturbed run (StepInput). Only
// the last step is sampled. The last chunk carries the first rows, so that no step but the last of a replay is a
// single token unless a chunk was one (a one-token step is a decode row either way).
std::vector<WorkItem> HeadSessions::rebuild_steps(uint64_t id) const {
  const HeadSession& session = sessions_.at(id);
  std::vector<int32_t> all = session.prompt;
  all.insert(all.end(), session.generated.begin(), session.generated.end());
  const int total = static_cast<int>(all.size());
  std::vector<WorkItem> steps;
  auto add_step = [&](int begin, int end, int decode_rows) {
    WorkItem item;
    item.session = id;
    item.input.start_pos = begin;
    item.input.tokens.assign(all.begin() + begin, all.begin() + end);
    item.input.decode_rows = decode_rows;
    item.sampling = session.request.sampling;
    item.enqueued = clock_.now();
    item.sample = end == total;
    steps.push_back(std::move(item));
  };
  const std::vector<PrefillChunk> chunks = prefill_chunks(static_cast<int>(session.prompt.size()), prefill_chunk_);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) add_step(chunks[i].begin, chunks[i].end, 0);
  int begin = chunks.empty() ? 0 : chunks.back().begin;
  int rows_begin = static_cast<int>(session.prompt.size());
  while (begin < total) {
    const int end = std::min(total, rows_begin + kReplayStepRows);
    add_step(begin, end, end - rows_begin);
    begin = rows_begin = end;
  }
  return steps;
}

std::vector<std::pair<uint64_t, net::Incoming>> HeadSessions::keepalives_due(Duration silence) {
  std::vector<std::pair<uint64_t, net::Incoming>> due;
  const auto now = clock_.now();
  for (auto& [id, session] : sessions_) {
    if (now - session.last_reply < silence) continue;
    due.emplace_back(id, session.client);
    session.last_reply = now;
  }
  return due;
}

}  // namespace ll::pipeline
