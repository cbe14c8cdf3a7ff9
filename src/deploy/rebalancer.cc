#include "deploy/rebalancer.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "placement/cost_model.h"

namespace ll::deploy {

void SlowdownDetector::reset(int stages, Clock::time_point now) {
  stages_.assign(static_cast<size_t>(std::max(0, stages)), StageWatch{});
  plan_time_ = now;
}

void SlowdownDetector::accept(const std::vector<double>& factors, Clock::time_point now) {
  for (size_t s = 0; s < stages_.size() && s < factors.size(); ++s) {
    if (factors[s] == 1.0) continue;
    stages_[s].baseline_ms = stages_[s].average_ms;
    stages_[s].beyond = 0;
  }
  plan_time_ = now;
}

void SlowdownDetector::observe(int stage, double compute_ms) {
  if (stage < 0 || stage >= static_cast<int>(stages_.size()) || !(compute_ms >= 0)) return;
  StageWatch& w = stages_[stage];
  if (w.warmup < options_.warmup) {
    ++w.warmup;
    return;
  }
  ++w.samples;
  if (w.samples <= options_.calibration) {  // the baseline: the mean of the first steps after the warm-up
    w.baseline_ms += (compute_ms - w.baseline_ms) / w.samples;
    w.average_ms = w.baseline_ms;
    return;
  }
  w.average_ms = 0.7 * w.average_ms + 0.3 * compute_ms;
  const double ratio = w.baseline_ms > 0 ? w.average_ms / w.baseline_ms : 1.0;
  const bool beyond = ratio > options_.trigger_ratio || ratio < 1.0 / options_.trigger_ratio;
  w.beyond = beyond ? w.beyond + 1 : 0;
}

std::optional<std::vector<double>> SlowdownDetector::slowdown(Clock::time_point now) const {
  if (!options_.enabled) return std::nullopt;
  if (std::chrono::duration<double>(now - plan_time_).count() < options_.cooldown_s) return std::nullopt;
  bool sustained = false;
  for (const auto& w : stages_) sustained = sustained || w.beyond >= options_.window;
  if (!sustained) return std::nullopt;
  std::vector<double> factors;
  for (const auto& w : stages_) {
    const bool calm = w.samples <= options_.calibration || w.baseline_ms <= 0 || w.beyond < options_.window;
    factors.push_back(calm ? 1.0 : std::clamp(w.average_ms / w.baseline_ms, 0.05, 20.0));
  }
  return factors;
}

std::vector<double> SlowdownDetector::observed_ms() const {
  std::vector<double> out;
  for (const auto& w : stages_) out.push_back(w.average_ms);
  return out;
}

std::vector<double> SlowdownDetector::baseline_ms() const {
  std::vector<double> out;
  for (const auto& w : stages_) out.push_back(w.baseline_ms);
  return out;
}

Result<ReplanDecision> decide_replan(placement::PlacementProblem problem,
                                     const std::vector<placement::StageSpan>& current,
                                     const std::vector<double>& slowdown, const placement::SolveOptions& solve,
                                     const RebalanceOptions& options) {
  if (slowdown.size() != current.size() || current.empty())
    return make_error("rebalance: one slowdown factor per stage expected");
  problem.head = current.front().device;  // the plan in force's head is the incumbent (it may not be the leader)
  std::ostringstream why;
  for (size_t s = 0; s < current.size(); ++s) {
    if (slowdown[s] == 1.0) continue;
    placement::Device& d = problem.devices[current[s].device];
    d.flops /= slowdown[s];
    for (double& t : d.shard_seconds) {
      if (t >= 0) t *= slowdown[s];
    }
    why << d.name << " runs at " << std::round(100.0 / slowdown[s]) << "% of its planned speed; ";
  }
  ReplanDecision decision;
  LL_ASSIGN_OR_RETURN(placement::Plan now, placement::evaluate_plan(problem, current, solve.objective));
  LL_ASSIGN_OR_RETURN(decision.plan, placement::solve_placement(problem, solve));
  decision.current_s = now.objective_value();
  decision.proposed_s = decision.plan.objective_value();
  const double gain = decision.current_s / std::max(decision.proposed_s, 1e-12) - 1.0;
  const bool same =
      decision.plan.spans().size() == current.size() &&
      std::equal(current.begin(), current.end(), decision.plan.spans().begin(),
                 [](const placement::StageSpan& a, const placement::StageSpan& b) {
                   return a.device == b.device && a.first_shard == b.first_shard && a.last_shard == b.last_shard;
                 });
  decision.apply = !same && gain >= options.min_gain;
  why << "predicted " << decision.current_s * 1000 << " ms/token now, " << decision.proposed_s * 1000
      << " ms/token re-planned (" << std::round(gain * 100) << "% gain"
      << (decision.apply ? ")" : ", below the threshold: kept)");
  decision.reason = why.str();
  decision.problem = std::move(problem);
  return decision;
}

}  // namespace ll::deploy
