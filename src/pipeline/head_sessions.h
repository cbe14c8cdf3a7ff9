// HeadSessions: the head stage's generations as a state machine, without sockets or shards. A request is checked
// and admitted (its prompt tokenized, a resumed generation primed with the tokens its client already has); each
// sampled token that comes back is streamed as text and either ends the generation (eos, max_tokens, the context)
// or becomes the next decode step; a generation's steps can be rebuilt from scratch for a new plan (exact replay);
// an ending yields the last text and the `done` message. The stage loop does the sending and the cache bookkeeping.
// Thread-safety: none; owned by the stage loop's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "model/tokenizer.h"
#include "net/transport.h"
#include "pipeline/head_speculation.h"
#include "pipeline/stage_config.h"
#include "pipeline/step_scheduler.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

// What the head remembers of a generation it serves.
struct HeadSession {
  net::Incoming client;  // the return address (frames empty)
  proto::GenerateMsg request;
  std::vector<int32_t> prompt;
  std::vector<int32_t> generated;
  TextStreamer streamer;
  std::string text;
  TimePoint started{};
  TimePoint first_token{};
  TimePoint last_reply{};  // when the client last heard from us (keep-alive)
  SessionSpeculation speculation;
};

// A sampled token taken in: the text to stream now, and either the generation's next step or why it ends.
struct TokenOutcome {
  std::string piece;
  std::optional<WorkItem> next_step;
  std::optional<std::string> finish_reason;  // eos | max_tokens | context
  bool streams = true;                       // false for an end-of-sequence token (nothing to send)
};

// A generation's end: what its client still gets.
struct Ending {
  net::Incoming client;
  std::string rest;  // text the streamer still held back (sent before `done`)
  proto::DoneMsg done;
};

[[nodiscard]] bool same_client(const net::Incoming& a, const net::Incoming& b);

class HeadSessions {
 public:
  // `prefill_chunk`: tokens per prefill step (engine/prefill_chunks.h), as the local engine cuts a prompt.
  HeadSessions(const Clock& clock, int prefill_chunk) : clock_(clock), prefill_chunk_(prefill_chunk) {}

  // Checks a request against the model and the session limit: the prompt's tokens, or the refusal to send.
  [[nodiscard]] std::variant<std::vector<int32_t>, proto::DataErrorMsg> check(const proto::GenerateMsg& request,
                                                                              const StageConfig& config,
                                                                              size_t max_sessions) const;
  // Admits a checked request as session `id`; a resumed generation's tokens are taken as already streamed.
  HeadSession& open(uint64_t id, net::Incoming client, proto::GenerateMsg request, std::vector<int32_t> prompt,
                    const Tokenizer& tokenizer);

  [[nodiscard]] HeadSession* find(uint64_t id);
  [[nodiscard]] bool contains(uint64_t id) const { return sessions_.count(id) != 0; }
  [[nodiscard]] size_t size() const { return sessions_.size(); }
  [[nodiscard]] std::vector<uint64_t> ids() const;

  // The token sampled at `position` for session `id` (which must exist).
  [[nodiscard]] TokenOutcome accept(uint64_t id, int32_t token, int position, const StageConfig& config);

  // Adds a draft to session `id`'s next step (head_speculation.h), within max_tokens and the context.
  void draft_next(uint64_t id, WorkItem& step, const StageConfig& config);

  // Ends session `id` for `reason`; nullopt when there is no such session. The client is owed `rest` and `done`
  // unless the reason is client_gone.
  [[nodiscard]] std::optional<Ending> end(uint64_t id, const std::string& reason, int stage_count);

  // The steps that compute a session from scratch — its first prefill, or a replay (docs/pipeline.md, "Exact
  // replay"): the prompt in chunks, then the generated tokens as decode rows.
  [[nodiscard]] std::vector<WorkItem> rebuild_steps(uint64_t id) const;

  // Sessions whose client has heard nothing for `silence`: each gets an (empty) keep-alive now.
  [[nodiscard]] std::vector<std::pair<uint64_t, net::Incoming>> keepalives_due(Duration silence);

  // Rows per replay step: stages work on a long replay at the same time (stage 2 on one step while stage 1
  // computes the next).
  static constexpr int kReplayStepRows = 64;

 private:
  const Clock& clock_;
  const int prefill_chunk_;
  std::unordered_map<uint64_t, HeadSession> sessions_;
};

}  // namespace ll::pipeline
