#include "client/trace_timeline.h"

#include <algorithm>
#include <cstdio>

namespace ll::client {
namespace {

constexpr int kPhaseThread = 1;
constexpr int kLinkThread = 2;

double own_phases_ms(const proto::StageStat& s) { return s.queue_ms + s.compute_ms + s.send_ms; }

}  // namespace

const char* trace_phase_name(TracePhase phase) {
  switch (phase) {
    case TracePhase::kQueued:
      return "queued";
    case TracePhase::kComputing:
      return "computing";
    case TracePhase::kSending:
      return "sending";
    case TracePhase::kLink:
      return "link and wait";
  }
  return "?";
}

double link_and_wait_ms(const proto::StepTrace& figures) {
  if (figures.stages.size() < 2) return 0;  // a one-stage ring has no round trip
  double others = 0;
  for (size_t i = 1; i < figures.stages.size(); ++i) others += own_phases_ms(figures.stages[i]);
  return std::max(0.0, figures.round_trip_ms - others);
}

std::vector<TraceSpan> lay_out_trace(const std::vector<TracedStep>& steps) {
  std::vector<TraceSpan> spans;
  double cursor_us = 0;
  for (const TracedStep& step : steps) {
    const auto& stages = step.figures.stages;
    if (stages.empty()) continue;
    const double hop_us = link_and_wait_ms(step.figures) * 1000 / static_cast<double>(stages.size());
    double t = cursor_us;
    auto add = [&](size_t stage, TracePhase phase, double duration_us) {
      spans.push_back(TraceSpan{static_cast<int64_t>(stage), phase, t, duration_us, step.step, stages[stage].batch,
                                step.token, step.figures.position});
      t += duration_us;
    };
    for (size_t i = 0; i < stages.size(); ++i) {
      add(i, TracePhase::kQueued, stages[i].queue_ms * 1000);
      add(i, TracePhase::kComputing, stages[i].compute_ms * 1000);
      add(i, TracePhase::kSending, stages[i].send_ms * 1000);
      if (stages.size() > 1) add(i, TracePhase::kLink, hop_us);  // towards stage i + 1, the tail's towards the head
    }
    cursor_us = t;
  }
  return spans;
}

TraceSummary summarize_trace(const std::vector<TracedStep>& steps) {
  TraceSummary sum;
  const bool decode_only = std::any_of(steps.begin(), steps.end(), [](const TracedStep& s) { return s.step > 0; });
  for (const TracedStep& step : steps) {
    if (decode_only && step.step == 0) continue;
    ++sum.steps;
    for (size_t i = 0; i < step.figures.stages.size(); ++i) {
      const auto& s = step.figures.stages[i];
      sum.compute_ms += s.compute_ms;
      sum.compute_ms_by_stage[static_cast<int64_t>(i)] += s.compute_ms;
      sum.queued_ms += s.queue_ms;
      sum.sending_ms += s.send_ms;
    }
    sum.link_ms += link_and_wait_ms(step.figures);
  }
  if (sum.steps == 0) return sum;
  const double n = static_cast<double>(sum.steps);
  sum.compute_ms /= n;
  sum.queued_ms /= n;
  sum.sending_ms /= n;
  sum.link_ms /= n;
  for (auto& [_, ms] : sum.compute_ms_by_stage) ms /= n;
  sum.total_ms = sum.compute_ms + sum.queued_ms + sum.sending_ms + sum.link_ms;
  return sum;
}

std::string trace_summary_line(const TraceSummary& s) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, "trace: %zu %s, %.2f ms per token = compute %.2f (", s.steps,
                s.steps == 1 ? "step" : "decode steps", s.total_ms, s.compute_ms);
  std::string line = buffer;
  bool first = true;
  for (const auto& [stage, ms] : s.compute_ms_by_stage) {
    std::snprintf(buffer, sizeof buffer, "%sstage %lld %.2f", first ? "" : ", ", static_cast<long long>(stage), ms);
    line += buffer;
    first = false;
  }
  std::snprintf(buffer, sizeof buffer, ") + queued %.2f + sending %.2f + link and wait %.2f", s.queued_ms, s.sending_ms,
                s.link_ms);
  return line + buffer;
}

std::string chrome_trace_json(const std::vector<TracedStep>& steps, const std::vector<std::string>& devices) {
  using proto::Json;
  Json events = Json::array();
  size_t stage_count = 0;
  for (const auto& step : steps) stage_count = std::max(stage_count, step.figures.stages.size());
  for (size_t i = 0; i < stage_count; ++i) {
    const int pid = static_cast<int>(i) + 1;
    std::string name = "stage " + std::to_string(i);
    if (i < devices.size() && !devices[i].empty()) name += ": " + devices[i];
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"args", {{"name", name}}}});
    events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"args", {{"sort_index", i}}}});
    events.push_back(
        {{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", kPhaseThread}, {"args", {{"name", "step"}}}});
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", pid},
                      {"tid", kLinkThread},
                      {"args", {{"name", i + 1 < stage_count ? "link to the next stage" : "link to the head"}}}});
  }
  for (const TraceSpan& span : lay_out_trace(steps)) {
    events.push_back(
        {{"name", trace_phase_name(span.phase)},
         {"cat", "step"},
         {"ph", "X"},
         {"pid", span.stage + 1},
         {"tid", span.phase == TracePhase::kLink ? kLinkThread : kPhaseThread},
         {"ts", span.start_us},
         {"dur", span.duration_us},
         {"args", {{"step", span.step}, {"batch", span.batch}, {"token", span.token}, {"position", span.position}}}});
  }
  Json doc{{"traceEvents", events},
           {"displayTimeUnit", "ms"},
           {"otherData",
            {{"generator", "llctl generate --trace"},
             {"note",
              "each stage's phases are durations on its own clock, laid out in ring order, steps back to back; link "
              "and wait is the head's round trip beyond the other stages' phases, split evenly over the hops"}}}};
  return doc.dump(1);
}

}  // namespace ll::client
