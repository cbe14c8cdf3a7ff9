// Calibration of the cost model from a running plan (docs/placement.md, "Calibration"). The start-up profile
// measures a compute-bound FLOP/s; decode is memory-bound and pays per-step and per-hop costs the profile never sees,
// so its predictions can be several times off. Once a plan runs, the leader's head sees every token's per-stage step
// times; the Calibrator takes a window of one-stream decode steps of that plan and derives
//   - per device, a speed factor: its observed stage compute over what the start-up profile predicts for the same
//     layers (a property of the device and the model, so it carries over to any later plan of that model), and
//   - the overheads: the observed token interval minus the stage computes minus the modelled link times, charged to
//     the head once per token (a one-stage plan) or to each hop between devices (a ring). When the interval leaves
//     less than the modelled links (their probes were slower than the pipeline's own traffic, as on loopback), the
//     links are scaled down to fit instead.
// apply() turns a start-up-profile problem into the calibrated one that plans and predictions use.
// Thread-compatible; the Planner guards it with its mutex. Time is passed in, so tests drive it with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "placement/problem.h"
#include "proto/data_messages.h"

namespace ll::deploy {

struct CalibrationOptions {
  int warmup = 4;   // one-stream decode steps of a new plan ignored (lazy initialisation, caches warming)
  int window = 16;  // the one-stream decode steps after those that calibrate the plan
};

class Calibrator {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Calibrator(CalibrationOptions options = CalibrationOptions{}) : options_(options) {}

  // A plan of `model` is in force: `profiled` prices it from the start-up profile (no calibration applied) and
  // `spans` are its stages. A new window starts; what earlier plans of the same model taught is kept.
  void start_plan(const std::string& model, const placement::PlacementProblem& profiled,
                  const std::vector<placement::StageSpan>& spans);
  // One token of `session` reached the head at `now`, with the step stats of every stage it crossed. True when
  // this step completed the window (the calibration changed).
  bool observe(uint64_t session, const std::vector<proto::StageStat>& stats, Clock::time_point now);
  // The load balancer measured `device` running `slowdown` times slower than calibrated: later plans use it.
  void scale_device(const std::string& device, double slowdown);

  // `profiled` (a start-up-profile problem of `model`) with the calibrated speeds and overheads; unchanged when
  // nothing of that model was calibrated yet.
  [[nodiscard]] placement::PlacementProblem apply(const std::string& model, placement::PlacementProblem profiled) const;
  // True once a window of `model` completed (for this plan or an earlier one).
  [[nodiscard]] bool calibrated(const std::string& model) const;
  // "calibrated from N one-stream decode steps of this plan" (or "of an earlier plan"), or "start-up profile".
  [[nodiscard]] std::string source(const std::string& model) const;
  // Whether the plan in force has completed its own window.
  [[nodiscard]] bool plan_calibrated() const { return plan_done_; }
  // {"source": "observed" | "start-up profile", "steps", "window", "warmup", "plan_steps", "stage_observed_ms",
  //  "token_interval_ms", "hop_overhead_s", "step_overhead_s", "link_factor", "device_factors": {name: factor}}
  [[nodiscard]] nlohmann::json to_json() const;

 private:
  struct Sample {
    std::vector<double> stage_ms;
    double interval_ms = 0;
  };
  void finish_window();

  CalibrationOptions options_;
  std::string model_;
  std::map<std::string, double> device_factor_;  // observed / start-up profile, per device of model_
  double hop_overhead_s_ = 0;
  double step_overhead_s_ = 0;
  double link_factor_ = 1;  // < 1 when the token interval left less than the modelled links: they are scaled to fit
  bool step_overhead_known_ = false;  // a one-stage plan measured it
  uint64_t steps_ = 0;                // one-stream decode steps behind the numbers in force

  // The plan in force.
  placement::PlacementProblem profiled_;
  std::vector<placement::StageSpan> spans_;
  int warm_ = 0;
  bool plan_done_ = false;
  std::vector<Sample> samples_;
  std::map<uint64_t, Clock::time_point> last_token_;  // per session: when its previous token arrived
  std::vector<double> stage_observed_ms_;
  double interval_ms_ = 0;
};

// `plan_json` (plan_to_json of the plan in force, plus the leader's fields) with the predictions of `fresh`
// (plan_to_json of the same plan re-priced): the solver's own figures (solver, status, bound) stay as they were.
[[nodiscard]] nlohmann::json with_prediction(nlohmann::json plan_json, const nlohmann::json& fresh);

}  // namespace ll::deploy
