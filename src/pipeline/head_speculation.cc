#include "pipeline/head_speculation.h"

#include <algorithm>

namespace ll::pipeline {

std::variant<SessionSpeculation, proto::DataErrorMsg> resolve_speculation(const proto::GenerateMsg& request,
                                                                          const SpeculationOptions& defaults,
                                                                          const HeadDrafters& drafters) {
  const std::string mode = request.speculate.empty() ? defaults.mode : request.speculate;
  const int k = request.draft_tokens < 0 ? defaults.draft_tokens : static_cast<int>(request.draft_tokens);
  if (Status valid = validate_speculation(mode, k); !valid.ok())
    return proto::DataErrorMsg{"bad_request", valid.error()};
  SessionSpeculation speculation;
  speculation.mode = mode;
  speculation.length = DraftLength(k);
  if (mode == "off" || k == 0) return speculation;
  if (mode == "ngram") {
    speculation.drafter = drafters.ngram;
  } else if (drafters.draft_model && drafters.draft_model->name() == mode) {
    speculation.drafter = drafters.draft_model;
  } else {
    return proto::DataErrorMsg{"bad_request", "this head has no draft model '" + mode.substr(6) + "' (it has " +
                                                  (drafters.draft_model ? drafters.draft_model->name() : "none") +
                                                  "; lingualinkd --draft-model)"};
  }
  return speculation;
}

void add_draft(WorkItem& step, SessionSpeculation& speculation, const std::vector<int32_t>& context, int room,
               int vocab) {
  speculation.in_flight.clear();
  if (!speculation.drafter || step.input.tokens.size() != 1) return;
  auto draft = next_draft(*speculation.drafter, speculation.length, step.session, context, room, vocab);
  if (!draft || draft->empty()) return;
  std::vector<int32_t> tokens = std::move(draft).value();
  step.input.tokens.insert(step.input.tokens.end(), tokens.begin(), tokens.end());
  step.input.decode_rows = step.input.step_tokens();
  step.input.logit_rows = step.input.step_tokens();
  step.draft = tokens;
  speculation.in_flight = std::move(tokens);
  speculation.in_flight_position = step.input.start_pos + 1;
}

Result<std::vector<int32_t>> take_verdict(SessionSpeculation& speculation, int64_t accepted, int32_t token,
                                          int position) {
  if (accepted < 0 || accepted > static_cast<int64_t>(speculation.in_flight.size())) {
    return make_error("a verdict of " + std::to_string(accepted) + " accepted tokens for a draft of " +
                      std::to_string(speculation.in_flight.size()));
  }
  if (!speculation.in_flight.empty() && position != speculation.in_flight_position + accepted) {
    return make_error("a verdict for position " + std::to_string(position) + " of a draft from position " +
                      std::to_string(speculation.in_flight_position) + " with " + std::to_string(accepted) +
                      " accepted: the tail did not verify the draft (every device must run the same release)");
  }
  std::vector<int32_t> tokens(speculation.in_flight.begin(), speculation.in_flight.begin() + accepted);
  tokens.push_back(token);
  if (!speculation.in_flight.empty()) {
    speculation.length.observe(static_cast<int>(speculation.in_flight.size()), static_cast<int>(accepted));
    speculation.drafted += static_cast<int64_t>(speculation.in_flight.size());
    speculation.accepted += accepted;
  }
  ++speculation.steps;
  speculation.in_flight.clear();
  return tokens;
}

}  // namespace ll::pipeline
