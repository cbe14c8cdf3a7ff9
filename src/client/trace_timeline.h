// A per-step trace of one generation (llctl generate --trace; docs/performance.md, "Reading a trace"): the figures
// the head sends with each token (proto::StepTrace) laid out as a timeline and written as Chrome trace events, which
// Perfetto and chrome://tracing open. Devices' clocks are never compared: each stage's phases are durations on its
// own clock, laid out in ring order; what the head's round trip holds beyond every other stage's phases is the
// link-and-wait time, split evenly over the ring's hops (it cannot be split further without synchronised clocks).
// Steps are laid out back to back. Thread-safety: value types and stateless functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "proto/data_messages.h"

namespace ll::client {

// One streamed token's step as the client received it.
struct TracedStep {
  int64_t step = 0;  // 0: the prompt's prefill, then one per decode step
  int64_t token = 0;
  proto::StepTrace figures;
};

enum class TracePhase { kQueued, kComputing, kSending, kLink };
[[nodiscard]] const char* trace_phase_name(TracePhase phase);

// One span of the timeline, in microseconds from the first step's start. A link span is drawn on the stage it
// leaves (`stage`), towards the next stage of the ring (the tail's, towards the head).
struct TraceSpan {
  int64_t stage = 0;  // the stage's index in the ring (its position in the step's figures)
  TracePhase phase = TracePhase::kQueued;
  double start_us = 0;
  double duration_us = 0;
  int64_t step = 0;
  int64_t batch = 1;
  int64_t token = 0;
  int64_t position = 0;
};

[[nodiscard]] std::vector<TraceSpan> lay_out_trace(const std::vector<TracedStep>& steps);

// The link-and-wait time of one step: the head's round trip beyond the other stages' phases, never negative.
[[nodiscard]] double link_and_wait_ms(const proto::StepTrace& figures);

// Mean milliseconds per token over the decode steps (the prefill's step alone when there is no other).
struct TraceSummary {
  size_t steps = 0;
  double total_ms = 0;
  double compute_ms = 0;
  double queued_ms = 0;
  double sending_ms = 0;
  double link_ms = 0;
  std::map<int64_t, double> compute_ms_by_stage;  // by ring index
};
[[nodiscard]] TraceSummary summarize_trace(const std::vector<TracedStep>& steps);
// "trace: 31 decode steps, 45.31 ms per token = compute 30.02 (stage 0 10.01, ...) + queued ... + link and wait ..."
[[nodiscard]] std::string trace_summary_line(const TraceSummary& summary);

// The Chrome trace-event document: one process per stage, named "stage I: DEVICE" (`devices` by ring index; a
// missing name is left out), its phases on one thread and its outgoing link on another.
[[nodiscard]] std::string chrome_trace_json(const std::vector<TracedStep>& steps,
                                            const std::vector<std::string>& devices);

}  // namespace ll::client
