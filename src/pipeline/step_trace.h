// The figures of a per-step trace, measured where each lives (docs/performance.md, "Reading a trace"). Every stage
// times, on its own clock, what follows its compute until its output leaves — the tail's sampling, the wire
// conversion and the tensor frame — and stamps it into its own StageStat (send_ms) before the control frame that
// carries it is encoded. The head also remembers when the activation of each traced session left, so that the
// token's return gives the round trip on the head's clock alone: clocks of different devices are never compared.
// Thread-safety: none; owned by the stage loop's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "lingualinked/result.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

// Stamps the last stat (this stage's) with the time from the end of the compute to `now`.
void stamp_send(std::vector<proto::StageStat>& stats, TimePoint computed, TimePoint now);

// The frames of `m`, whose last stat is stamped after the tensor frame is encoded: the control frame (small JSON)
// and the hand-off to ZeroMQ are all that is left out.
[[nodiscard]] Result<std::vector<std::string>> encode_stamped_activation(proto::ActivationMsg& m, TimePoint computed,
                                                                         const Clock& clock);

// The head's side of its traced sessions' round trips.
class HeadStepTimes {
 public:
  // Session `session`'s activation was handed to ZeroMQ at `at`, `send_ms` after the head's compute ended.
  void sent(uint64_t session, TimePoint at, double send_ms);
  // Its token came back at `now` with every stage's figures: the step's trace, the head's whole send time in place
  // of the part its stat carried. nullopt when no activation of the session was sent (never expected).
  [[nodiscard]] std::optional<proto::StepTrace> returned(uint64_t session, int64_t position,
                                                         std::vector<proto::StageStat> stats, TimePoint now);
  void forget(uint64_t session) { sent_.erase(session); }
  [[nodiscard]] size_t size() const { return sent_.size(); }

 private:
  struct Sent {
    TimePoint at;
    double send_ms = 0;
  };
  std::unordered_map<uint64_t, Sent> sent_;
};

}  // namespace ll::pipeline
