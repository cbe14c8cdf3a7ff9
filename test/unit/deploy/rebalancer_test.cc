// Load-balancing decisions: trigger only on sustained slowdowns, never within the cool-down, never for small gains.
#include <catch2/catch.hpp>

#include "deploy/rebalancer.h"

using namespace ll;
using namespace ll::deploy;
using Clock = SlowdownDetector::Clock;

namespace {

placement::PlacementProblem three_equal_devices(int blocks) {
  placement::PlacementProblem p;
  for (int i = 0; i < blocks + 2; ++i) {
    ShardInfo s;
    s.id = i;
    s.kind = i == 0 ? ShardKind::kEmbed : (i == blocks + 1 ? ShardKind::kHead : ShardKind::kBlock);
    s.bytes = 1000;
    s.flops_per_token = s.kind == ShardKind::kBlock ? 1e6 : 1e4;
    s.out_bytes_per_token = 256;
    p.shards.push_back(s);
  }
  p.context = 16;
  for (int d = 0; d < 3; ++d) p.devices.push_back(placement::Device{"d" + std::to_string(d), 1 << 20, 1e9, {}});
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      if (a != b) p.set_link(a, b, 1e9, 1e-5);
    }
  }
  return p;
}

}  // namespace

TEST_CASE("SustainedSlowdownTriggersAfterTheWindow", "[rebalance]") {
  RebalanceOptions o;
  o.cooldown_s = 0;
  SlowdownDetector d(o);
  const auto t0 = Clock::now();
  d.reset(3, t0);
  for (int i = 0; i < o.warmup + o.calibration; ++i) {
    for (int s = 0; s < 3; ++s) d.observe(s, 1.0);
  }
  CHECK_FALSE(d.slowdown(t0).has_value());
  for (int i = 0; i < o.window + 3; ++i) {
    d.observe(0, 1.0);
    d.observe(1, 4.0);  // stage 1 became four times slower
    d.observe(2, 1.0);
  }
  auto f = d.slowdown(t0);
  REQUIRE(f.has_value());
  CHECK((*f)[0] == 1.0);
  CHECK((*f)[1] == Approx(4.0).epsilon(0.05));
}

TEST_CASE("OscillationNearTheThresholdNeverTriggers", "[rebalance][flapping]") {
  RebalanceOptions o;
  o.cooldown_s = 0;
  SlowdownDetector d(o);
  d.reset(2, Clock::now());
  for (int i = 0; i < o.warmup + o.calibration; ++i) d.observe(0, 1.0), d.observe(1, 1.0);
  int triggers = 0;
  for (int i = 0; i < 2000; ++i) {
    d.observe(0, 1.0);
    d.observe(1, i % 2 ? 1.9 : 1.0);  // average ~1.45x: near, but below, the 1.5x threshold
    if (d.slowdown(Clock::now())) ++triggers;
  }
  CHECK(triggers == 0);
}

TEST_CASE("NoReplanWithinTheCooldown", "[rebalance][flapping]") {
  RebalanceOptions o;
  o.cooldown_s = 60;
  SlowdownDetector d(o);
  const auto t0 = Clock::now();
  d.reset(1, t0);
  for (int i = 0; i < 100; ++i) d.observe(0, i < o.warmup + o.calibration ? 1.0 : 5.0);
  CHECK_FALSE(d.slowdown(t0 + std::chrono::seconds(10)).has_value());
  CHECK(d.slowdown(t0 + std::chrono::seconds(61)).has_value());
}

TEST_CASE("SlowDeviceLosesLayersWhenTheGainIsWorthIt", "[rebalance]") {
  placement::PlacementProblem p = three_equal_devices(9);
  placement::SolveOptions solve;
  solve.objective = placement::Objective::kThroughput;
  auto plan = placement::solve_placement(p, solve);
  REQUIRE(plan.ok());
  const auto spans = plan->spans();
  REQUIRE(spans.size() == 3);
  std::vector<double> slowdown(3, 1.0);
  slowdown[1] = 4.0;  // the middle device now runs at 25%
  auto decision = decide_replan(p, spans, slowdown, solve, RebalanceOptions{});
  REQUIRE(decision.ok());
  INFO(decision->reason);
  CHECK(decision->apply);
  CHECK(decision->proposed_s < decision->current_s / 1.15);
  const int slow_device = spans[1].device;
  int layers_before = spans[1].last_shard - spans[1].first_shard + 1, layers_after = 0;
  for (const auto& s : decision->plan.stages) {
    if (s.device == slow_device) layers_after = s.last_shard - s.first_shard + 1;
  }
  CHECK(layers_after < layers_before);
}

TEST_CASE("SmallGainKeepsThePlan", "[rebalance][flapping]") {
  placement::PlacementProblem p = three_equal_devices(9);
  placement::SolveOptions solve;
  solve.objective = placement::Objective::kThroughput;
  auto plan = placement::solve_placement(p, solve);
  REQUIRE(plan.ok());
  std::vector<double> slowdown(3, 1.0);
  slowdown[2] = 1.05;  // within noise: not worth a move
  auto decision = decide_replan(p, plan->spans(), slowdown, solve, RebalanceOptions{});
  REQUIRE(decision.ok());
  CHECK_FALSE(decision->apply);
}

TEST_CASE("SlowWarmUpStepsDoNotSkewTheBaseline", "[rebalance][flapping]") {
  RebalanceOptions o;
  o.cooldown_s = 0;
  SlowdownDetector d(o);
  d.reset(1, Clock::now());
  for (int i = 0; i < o.warmup; ++i) d.observe(0, 10.0);  // first calls of a freshly loaded module are slow
  for (int i = 0; i < 200; ++i) d.observe(0, 1.0);
  CHECK_FALSE(d.slowdown(Clock::now()).has_value());
}

TEST_CASE("KeptDecisionForOneStageDoesNotHideAnotherStagesSlowdownStillBuildingUp", "[rebalance]") {
  // Found in CI: the head's step times jumped (noise on a loaded machine) a few steps before stage 1 really slowed;
  // the re-plan for the head alone was not worth it, and resetting every baseline then made stage 1's slowdown its
  // new baseline — it was never acted on.
  RebalanceOptions o;
  o.cooldown_s = 0;
  SlowdownDetector d(o);
  const auto t0 = Clock::now();
  d.reset(3, t0);
  for (int i = 0; i < o.warmup + o.calibration; ++i) {
    for (int s = 0; s < 3; ++s) d.observe(s, 1.0);
  }
  for (int i = 0; i < o.window; ++i) {  // stage 0 slow for a whole window; stage 1 only for its last steps
    d.observe(0, 3.0);
    d.observe(1, i >= o.window - 4 ? 30.0 : 1.0);
    d.observe(2, 1.0);
  }
  auto first = d.slowdown(t0);
  REQUIRE(first.has_value());
  CHECK((*first)[0] > 1.5);
  CHECK((*first)[1] == 1.0);  // not yet a whole window
  d.accept(*first, t0);       // the re-plan for stage 0 was kept
  for (int i = 0; i < o.window; ++i) {
    d.observe(0, 3.0);  // stage 0's new normal
    d.observe(1, 30.0);
    d.observe(2, 1.0);
  }
  auto second = d.slowdown(t0);
  REQUIRE(second.has_value());
  CHECK((*second)[0] == 1.0);           // accepted: not reported again
  CHECK((*second)[1] == Approx(20.0));  // against its baseline from before (30x, clamped at 20x)
}
