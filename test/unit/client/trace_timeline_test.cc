// The per-step trace's layout, summary and Chrome trace-event document (src/client/trace_timeline.h).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>

#include "client/trace_timeline.h"

using namespace ll::client;
using ll::proto::StageStat;
using ll::proto::StepTrace;

namespace {

// Three stages: the head's own phases, then the round trip holding the two others' phases and 6 ms of links.
std::vector<TracedStep> three_stage_steps() {
  std::vector<TracedStep> steps;
  for (int k = 0; k < 4; ++k) {
    StepTrace t;
    t.position = 5 + k;
    std::vector<StageStat> stages = {StageStat{0, 10.0 + k, 0.5, 1, 1, 0.25}, StageStat{1, 12.0, 0.75, 1, 1, 0.125},
                                     StageStat{2, 8.0, 1.0, 2, 1, 0.5}};
    double others = 0;
    for (size_t i = 1; i < stages.size(); ++i) others += stages[i].queue_ms + stages[i].compute_ms + stages[i].send_ms;
    t.round_trip_ms = others + 6.0;
    t.stages = stages;
    steps.push_back(TracedStep{k, 100 + k, t});
  }
  return steps;
}

double head_phases_ms(const StepTrace& t) {
  return t.stages[0].queue_ms + t.stages[0].compute_ms + t.stages[0].send_ms;
}

}  // namespace

TEST_CASE("StageSpansOfAStepNeverOverlapAndFollowRingOrder", "[trace]") {
  const auto steps = three_stage_steps();
  const auto spans = lay_out_trace(steps);
  REQUIRE(spans.size() == steps.size() * 3 * 4);  // queued, computing, sending, link for each of three stages
  for (size_t i = 1; i < spans.size(); ++i) {
    // Each span starts where the one before it ended: nothing overlaps, nothing is left out.
    CHECK(spans[i].start_us == Approx(spans[i - 1].start_us + spans[i - 1].duration_us));
    if (spans[i].step == spans[i - 1].step) CHECK(spans[i].stage >= spans[i - 1].stage);
    CHECK(spans[i].duration_us >= 0);
  }
  CHECK(spans.front().start_us == 0);
}

TEST_CASE("PhasesOfAStepSumToTheHeadsOwnPhasesPlusItsRoundTrip", "[trace]") {
  const auto steps = three_stage_steps();
  std::map<int64_t, double> per_step_us;
  std::map<int64_t, double> link_us;
  for (const auto& span : lay_out_trace(steps)) {
    per_step_us[span.step] += span.duration_us;
    if (span.phase == TracePhase::kLink) link_us[span.step] += span.duration_us;
  }
  for (const auto& step : steps) {
    CHECK(per_step_us[step.step] == Approx((head_phases_ms(step.figures) + step.figures.round_trip_ms) * 1000));
    CHECK(link_us[step.step] == Approx(6000));
    CHECK(link_and_wait_ms(step.figures) == Approx(6.0));
  }
}

TEST_CASE("LinkTimeIsSplitEvenlyOverTheHops", "[trace]") {
  for (const auto& span : lay_out_trace(three_stage_steps())) {
    if (span.phase == TracePhase::kLink) CHECK(span.duration_us == Approx(2000));
  }
}

TEST_CASE("RoundTripShorterThanTheOtherStagesPhasesGivesNoNegativeLink", "[trace]") {
  StepTrace t{3, 1.0, {StageStat{0, 1, 0, 1, 1, 0}, StageStat{1, 5, 0, 1, 1, 0}}};  // clocks of other rates
  CHECK(link_and_wait_ms(t) == 0);
  for (const auto& span : lay_out_trace({TracedStep{0, 1, t}})) CHECK(span.duration_us >= 0);
}

TEST_CASE("OneStageRingHasNoLinkSpans", "[trace]") {
  StepTrace t{3, 0, {StageStat{0, 4, 0.5, 1, 1, 0.1}}};
  const auto spans = lay_out_trace({TracedStep{0, 1, t}, TracedStep{1, 2, t}});
  REQUIRE(spans.size() == 6);
  for (const auto& span : spans) CHECK(span.phase != TracePhase::kLink);
}

TEST_CASE("SummaryIsTheMeanOfTheDecodeStepsWithoutThePrefill", "[trace]") {
  auto steps = three_stage_steps();
  steps[0].figures.stages[0].compute_ms = 1000;  // the prefill: not a per-token figure
  const TraceSummary s = summarize_trace(steps);
  CHECK(s.steps == 3);
  CHECK(s.compute_ms_by_stage.at(0) == Approx((11.0 + 12.0 + 13.0) / 3));
  CHECK(s.compute_ms_by_stage.at(1) == Approx(12.0));
  CHECK(s.queued_ms == Approx(0.5 + 0.75 + 1.0));
  CHECK(s.sending_ms == Approx(0.25 + 0.125 + 0.5));
  CHECK(s.link_ms == Approx(6.0));
  CHECK(s.total_ms == Approx(s.compute_ms + s.queued_ms + s.sending_ms + s.link_ms));
  const std::string line = trace_summary_line(s);
  CHECK(line.find("3 decode steps") != std::string::npos);
  CHECK(line.find("link and wait 6.00") != std::string::npos);
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("ChromeTraceParsesWithOneNamedProcessPerStageAndCompleteEvents", "[trace]") {
  const auto steps = three_stage_steps();
  const auto doc = nlohmann::json::parse(chrome_trace_json(steps, {"alpha", "beta", "gamma"}));
  REQUIRE(doc["traceEvents"].is_array());
  std::map<int, std::string> process_names;
  size_t computing = 0;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name") process_names[e["pid"].get<int>()] = e["args"]["name"];
    if (e["ph"] != "X") continue;
    CHECK(e["ts"].get<double>() >= 0);
    CHECK(e["dur"].get<double>() >= 0);
    CHECK(e["args"].contains("step"));
    CHECK(e["args"].contains("batch"));
    CHECK(e["args"].contains("token"));
    if (e["name"] == "computing") {
      ++computing;
      const int64_t step = e["args"]["step"];
      CHECK(e["args"]["token"] == 100 + step);
      if (e["pid"] == 3) CHECK(e["args"]["batch"] == 2);
    }
  }
  CHECK(computing == steps.size() * 3);
  CHECK(process_names ==
        std::map<int, std::string>{{1, "stage 0: alpha"}, {2, "stage 1: beta"}, {3, "stage 2: gamma"}});
}

TEST_CASE("ChromeTraceOfNoStepsIsStillADocument", "[trace]") {
  const auto doc = nlohmann::json::parse(chrome_trace_json({}, {}));
  CHECK(doc["traceEvents"].empty());
}
