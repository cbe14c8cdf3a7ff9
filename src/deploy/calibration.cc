// Implementation of the cost-model calibration (calibration.h). Thread-compatible.
#include "deploy/calibration.h"

#include <algorithm>
#include <cmath>

#include "placement/cost_model.h"

namespace ll::deploy {
namespace {

// Sessions whose last token time is kept; beyond it the map starts again (a session's first interval is then lost).
constexpr size_t kMaxTrackedSessions = 256;
// Links are never priced below this share of what their probes measured.
constexpr double kMinLinkFactor = 0.01;

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  if (values.size() % 2) return values[mid];
  const double upper = values[mid];
  return (upper + *std::max_element(values.begin(), values.begin() + mid)) / 2;
}

// A batch-1, one-row step at every stage of the plan: what one stream's decode costs. Prefill (rows > 1) and batched
// steps (batch > 1) cost differently and would skew the per-token figures.
bool one_stream_decode(const std::vector<proto::StageStat>& stats, size_t stages) {
  if (stats.size() != stages) return false;
  for (size_t i = 0; i < stats.size(); ++i) {
    const auto& s = stats[i];
    if (s.stage != static_cast<int64_t>(i) || s.batch != 1 || s.rows != 1) return false;
    if (!(s.compute_ms >= 0) || !std::isfinite(s.compute_ms) || !(s.queue_ms >= 0) || !std::isfinite(s.queue_ms)) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Calibrator::start_plan(const std::string& model, const placement::PlacementProblem& profiled,
                            const std::vector<placement::StageSpan>& spans) {
  if (model != model_) {  // speeds and overheads are properties of a device and a model
    device_factor_.clear();
    hop_overhead_s_ = step_overhead_s_ = 0;
    link_factor_ = 1;
    step_overhead_known_ = false;
    steps_ = 0;
    model_ = model;
  }
  profiled_ = profiled;
  profiled_.hop_overhead_s = profiled_.step_overhead_s = 0;
  spans_ = spans;
  warm_ = 0;
  plan_done_ = false;
  samples_.clear();
  last_token_.clear();
  stage_observed_ms_.clear();
  interval_ms_ = 0;
}

bool Calibrator::observe(uint64_t session, const std::vector<proto::StageStat>& stats, Clock::time_point now) {
  if (spans_.empty()) return false;
  if (last_token_.size() >= kMaxTrackedSessions && !last_token_.count(session)) last_token_.clear();
  auto previous = last_token_.find(session);
  const bool has_previous = previous != last_token_.end();
  const Clock::time_point previous_time = has_previous ? previous->second : now;
  last_token_[session] = now;
  // The interval from the previous token of the same session to this one is this step's whole round trip: the
  // previous step (a prefill, say) only has to have ended.
  if (plan_done_ || !has_previous || !one_stream_decode(stats, spans_.size())) return false;
  if (warm_ < options_.warmup) {
    ++warm_;
    return false;
  }
  Sample sample;
  double queued_ms = 0;
  for (const auto& s : stats) {
    sample.stage_ms.push_back(s.compute_ms);
    queued_ms += s.queue_ms;  // waiting behind another session's step is not this stream's cost
  }
  sample.interval_ms = std::chrono::duration<double, std::milli>(now - previous_time).count() - queued_ms;
  samples_.push_back(std::move(sample));
  if (static_cast<int>(samples_.size()) < options_.window) return false;
  finish_window();
  return true;
}

void Calibrator::finish_window() {
  const size_t k = spans_.size();
  stage_observed_ms_.assign(k, 0);
  double computed_ms = 0;
  for (size_t s = 0; s < k; ++s) {
    std::vector<double> column;
    for (const auto& sample : samples_) column.push_back(sample.stage_ms[s]);
    stage_observed_ms_[s] = median(column);
    computed_ms += stage_observed_ms_[s];
  }
  std::vector<double> intervals;
  for (const auto& sample : samples_) intervals.push_back(sample.interval_ms);
  interval_ms_ = median(intervals);

  for (size_t s = 0; s < k; ++s) {
    const placement::StageSpan& span = spans_[s];
    double profiled_s = 0;
    for (int i = span.first_shard; i <= span.last_shard; ++i)
      profiled_s += placement::shard_seconds(profiled_, i, span.device);
    if (profiled_s > 0 && stage_observed_ms_[s] > 0) {
      device_factor_[profiled_.devices[span.device].name] = stage_observed_ms_[s] / 1000 / profiled_s;
    }
  }
  // What the token interval holds beyond the stage computes and the modelled links is overhead.
  double links_s = 0;
  for (size_t s = 0; k > 1 && s < k; ++s) {
    const int from = spans_[s].device;
    const int to = s + 1 < k ? spans_[s + 1].device : profiled_.head;
    if (profiled_.link(from, to).present) {
      links_s += placement::transfer_seconds(profiled_, from, to,
                                             placement::stage_output_bytes(profiled_, spans_[s].last_shard));
    }
  }
  const double beside_compute_s = std::max(0.0, (interval_ms_ - computed_ms) / 1000);
  // Links faster than their probes said (loopback, say): they are scaled down to fit, and no overhead is left.
  link_factor_ = links_s > beside_compute_s ? std::max(kMinLinkFactor, beside_compute_s / links_s) : 1.0;
  const double overhead_s = std::max(0.0, beside_compute_s - links_s);
  if (k == 1) {
    step_overhead_s_ = overhead_s;
    step_overhead_known_ = true;
  } else {
    // A ring has the head's per-token work too; without a one-stage plan to tell it apart, hops carry it all.
    if (!step_overhead_known_) step_overhead_s_ = 0;
    step_overhead_s_ = std::min(step_overhead_s_, overhead_s);
    hop_overhead_s_ = (overhead_s - step_overhead_s_) / static_cast<double>(k);
  }
  steps_ = samples_.size();
  samples_.clear();
  plan_done_ = true;
}

void Calibrator::scale_device(const std::string& device, double slowdown) {
  if (!(slowdown > 0) || !std::isfinite(slowdown)) return;
  auto [it, inserted] = device_factor_.emplace(device, slowdown);
  if (!inserted) it->second *= slowdown;
}

placement::PlacementProblem Calibrator::apply(const std::string& model, placement::PlacementProblem problem) const {
  if (model != model_) return problem;
  for (auto& d : problem.devices) {
    auto it = device_factor_.find(d.name);
    if (it == device_factor_.end()) continue;
    d.flops /= it->second;
    for (double& t : d.shard_seconds) {
      if (t >= 0) t *= it->second;
    }
  }
  if (steps_ > 0) {
    for (auto& row : problem.links) {
      for (auto& link : row) {
        link.latency_s *= link_factor_;
        link.bandwidth_bytes_per_s /= link_factor_;
      }
    }
    problem.hop_overhead_s = hop_overhead_s_;
    problem.step_overhead_s = step_overhead_s_;
  }
  return problem;
}

bool Calibrator::calibrated(const std::string& model) const { return model == model_ && steps_ > 0; }

std::string Calibrator::source(const std::string& model) const {
  if (!calibrated(model)) return "start-up profile";
  return "calibrated from " + std::to_string(steps_) + " one-stream decode steps" +
         (plan_done_ ? " of this plan" : " of an earlier plan");
}

nlohmann::json Calibrator::to_json() const {
  nlohmann::json factors = nlohmann::json::object();
  for (const auto& [name, factor] : device_factor_) factors[name] = factor;
  return {{"source", steps_ > 0 ? "observed" : "start-up profile"},
          {"steps", steps_},
          {"window", options_.window},
          {"warmup", options_.warmup},
          {"plan_calibrated", plan_done_},
          {"plan_steps", plan_done_ ? static_cast<size_t>(options_.window) : samples_.size()},
          {"stage_observed_ms", stage_observed_ms_},
          {"token_interval_ms", interval_ms_},
          {"hop_overhead_s", hop_overhead_s_},
          {"step_overhead_s", step_overhead_s_},
          {"link_factor", link_factor_},
          {"device_factors", factors}};
}

nlohmann::json with_prediction(nlohmann::json plan_json, const nlohmann::json& fresh) {
  for (const char* key : {"predicted_s_per_token", "one_stream_s_per_token", "pipeline_s_per_token",
                          "one_stream_tokens_per_s", "pipeline_tokens_per_s", "hop_overhead_s", "step_overhead_s"}) {
    if (fresh.contains(key)) plan_json[key] = fresh[key];
  }
  if (!plan_json.contains("stages") || !fresh.contains("stages")) return plan_json;
  for (size_t s = 0; s < plan_json["stages"].size() && s < fresh["stages"].size(); ++s) {
    for (const char* key : {"compute_s", "transfer_s", "overhead_s", "time_s"}) {
      if (fresh["stages"][s].contains(key)) plan_json["stages"][s][key] = fresh["stages"][s][key];
    }
  }
  return plan_json;
}

}  // namespace ll::deploy
