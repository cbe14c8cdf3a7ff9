// HeadSpeculation: the head's side of speculative decoding for one generation (docs/pipeline.md, "Speculative
// decoding"). The head resolves what a request asks for against its own defaults and drafters, adds a draft to each
// decode step, and turns the tail's verdict (how many drafted tokens stood, and the token after them) back into
// tokens. The tail verifies with the sampler the step would have used anyway, so the tokens are exactly the tokens
// of decoding one by one; a replayed session starts over without a draft in flight.
// Thread-safety: none; owned by the head's stage loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "engine/drafter.h"
#include "engine/speculation.h"
#include "pipeline/step_scheduler.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

struct SessionSpeculation {
  Drafter* drafter = nullptr;  // null: this generation does not speculate
  std::string mode = "off";
  DraftLength length{0};
  std::vector<int32_t> in_flight;  // the draft of the step on its way round the ring
  int in_flight_position = 0;      // the position of its first token
  int64_t drafted = 0;
  int64_t accepted = 0;
  int64_t steps = 0;  // steps that brought tokens back
};

// The drafters a head offers: n-gram drafting always, a draft model when the daemon has one.
struct HeadDrafters {
  Drafter* ngram = nullptr;
  Drafter* draft_model = nullptr;
};

// What a request's `speculate` and `draft_tokens` come to on this head ("" and -1 take `defaults`), or the refusal
// (an unknown mode, a draft model this head does not have).
[[nodiscard]] std::variant<SessionSpeculation, proto::DataErrorMsg> resolve_speculation(
    const proto::GenerateMsg& request, const SpeculationOptions& defaults, const HeadDrafters& drafters);

// Adds a draft to `step`, a one-token decode step of a session whose tokens so far are `context`: at most `room`
// tokens (the draft must not run past max_tokens or the context), cut at the first token outside the target's
// `vocab`. Leaves the step alone when the session does not speculate, the drafter has nothing, or it fails (a draft
// is only ever an optimisation).
void add_draft(WorkItem& step, SessionSpeculation& speculation, const std::vector<int32_t>& context, int room,
               int vocab);

// The tokens a verified step yields — the first `accepted` tokens of the draft in flight, then `token` at
// `position` — or an error when the verdict does not fit the draft: more accepted than drafted, or a position that
// is not the draft's first plus `accepted` (a tail that does not verify drafts, e.g. of an older release, returns
// the token after the whole draft and no count; taking it would put it in the wrong place).
[[nodiscard]] Result<std::vector<int32_t>> take_verdict(SessionSpeculation& speculation, int64_t accepted,
                                                        int32_t token, int position);

}  // namespace ll::pipeline
