// Runtime load balancing, the decision half. SlowdownDetector watches each stage's real step times (they ride to the
// head with the pipeline traffic) and says when one has stayed well away from its baseline; decide_replan() turns
// that into new device speeds, re-solves, and recommends the new plan only when it is predicted to be worth the
// move. Hysteresis (a sustained window, a minimum gain) and a cool-down keep it from flapping.
// Thread-compatible; ModelManager guards it with its mutex.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "lingualinked/result.h"
#include "placement/problem.h"
#include "placement/solver.h"

namespace ll::deploy {

struct RebalanceOptions {
  bool enabled = true;
  double trigger_ratio = 1.5;  // a stage this many times slower (or faster) than its baseline...
  int window = 12;             // ...for this many consecutive steps
  int warmup = 8;              // first steps after a plan, ignored (lazy initialisation makes them slow)
  int calibration = 8;         // the steps after those set each stage's baseline
  double min_gain = 0.2;       // a new plan must be predicted at least 20% faster
  double cooldown_s = 5;       // and come no sooner than this after the last re-plan
};

class SlowdownDetector {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SlowdownDetector(RebalanceOptions options) : options_(options) {}

  // A plan with `stages` stages is in place from `now`.
  void reset(int stages, Clock::time_point now);
  // A re-plan for the slowdown `factors` (as slowdown() gave them) was not worth it: the plan stays and the speeds
  // behind those factors are the new normal. Only the stages that had a factor take their current times as their
  // baseline; every other stage keeps its baseline and its count, so a slowdown that was still building up (not yet
  // a whole window) is not absorbed into a new baseline and lost. The cool-down starts again from `now`.
  void accept(const std::vector<double>& factors, Clock::time_point now);
  // One step of `stage` took `compute_ms`.
  void observe(int stage, double compute_ms);
  // Per stage: how much slower than its baseline it now runs (observed / baseline, 1 when calm), once some stage
  // has stayed beyond the trigger ratio for a whole window and the cool-down has passed; nullopt otherwise.
  [[nodiscard]] std::optional<std::vector<double>> slowdown(Clock::time_point now) const;
  [[nodiscard]] std::vector<double> observed_ms() const;
  [[nodiscard]] std::vector<double> baseline_ms() const;

 private:
  struct StageWatch {
    int warmup = 0;
    int samples = 0;
    double baseline_ms = 0;
    double average_ms = 0;  // exponential moving average after calibration
    int beyond = 0;         // consecutive steps beyond the trigger ratio
  };
  RebalanceOptions options_;
  std::vector<StageWatch> stages_;
  Clock::time_point plan_time_{};
};

struct ReplanDecision {
  bool apply = false;
  std::string reason;
  placement::PlacementProblem problem;  // with device speeds updated from observation
  placement::Plan plan;                 // the new plan (when apply)
  double current_s = 0;                 // the current plan's predicted objective under the updated speeds
  double proposed_s = 0;
};

// Scales each stage device's speed by 1/slowdown, prices the current plan under the new speeds, solves again, and
// recommends the new plan when it is at least `min_gain` better.
[[nodiscard]] Result<ReplanDecision> decide_replan(placement::PlacementProblem problem,
                                                   const std::vector<placement::StageSpan>& current,
                                                   const std::vector<double>& slowdown,
                                                   const placement::SolveOptions& solve,
                                                   const RebalanceOptions& options);

}  // namespace ll::deploy
