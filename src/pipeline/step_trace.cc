#include "pipeline/step_trace.h"

#include <algorithm>

namespace ll::pipeline {

void stamp_send(std::vector<proto::StageStat>& stats, TimePoint computed, TimePoint now) {
  if (!stats.empty()) stats.back().send_ms = std::max(0.0, to_ms(now - computed));
}

Result<std::vector<std::string>> encode_stamped_activation(proto::ActivationMsg& m, TimePoint computed,
                                                           const Clock& clock) {
  LL_ASSIGN_OR_RETURN(std::string tensor, proto::encode_tensor_frame(m.hidden));
  stamp_send(m.stats, computed, clock.now());
  LL_ASSIGN_OR_RETURN(std::string control, proto::encode_data_control_frame(m));
  std::vector<std::string> frames;
  frames.push_back(std::move(control));
  frames.push_back(std::move(tensor));
  return frames;
}

void HeadStepTimes::sent(uint64_t session, TimePoint at, double send_ms) { sent_[session] = Sent{at, send_ms}; }

std::optional<proto::StepTrace> HeadStepTimes::returned(uint64_t session, int64_t position,
                                                        std::vector<proto::StageStat> stats, TimePoint now) {
  auto it = sent_.find(session);
  if (it == sent_.end()) return std::nullopt;
  proto::StepTrace trace;
  trace.position = position;
  trace.round_trip_ms = std::max(0.0, to_ms(now - it->second.at));
  trace.stages = std::move(stats);
  if (!trace.stages.empty()) trace.stages.front().send_ms = it->second.send_ms;
  sent_.erase(it);
  return trace;
}

}  // namespace ll::pipeline
