// Calibration of the cost model from observed one-stream decode steps (calibration.h): the arithmetic, driven by a
// fake clock and made-up stage stats.
#include <catch2/catch.hpp>
#include <cmath>

#include "deploy/calibration.h"
#include "deploy/rebalancer.h"
#include "placement/cost_model.h"

using namespace ll;
using namespace ll::deploy;
using Clock = Calibrator::Clock;

namespace {

constexpr double kLinkLatencyS = 1e-5;

// Nine blocks of 1 ms each (1e6 FLOP at 1e9 FLOP/s) between an embedding and a head of 0.01 ms, on three devices.
placement::PlacementProblem three_equal_devices() {
  placement::PlacementProblem p;
  const int blocks = 9;
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
      if (a != b) p.set_link(a, b, 1e9, kLinkLatencyS);
    }
  }
  return p;
}

// d0: embed + L0-L2, d1: L3-L6, d2: L7-L8 + head.
const std::vector<placement::StageSpan> kRing = {{0, 0, 3}, {1, 4, 7}, {2, 8, 10}};

std::vector<proto::StageStat> steps(const std::vector<double>& compute_ms, int64_t rows = 1, int64_t batch = 1) {
  std::vector<proto::StageStat> out;
  for (size_t s = 0; s < compute_ms.size(); ++s) {
    out.push_back(proto::StageStat{static_cast<int64_t>(s), compute_ms[s], 0, batch, rows});
  }
  return out;
}

std::vector<double> stage_ms(const placement::Plan& plan) {
  std::vector<double> out;
  for (const auto& s : plan.stages) out.push_back(s.compute_s * 1000);
  return out;
}

double modelled_links_s(const placement::PlacementProblem& p, const std::vector<placement::StageSpan>& spans) {
  auto plan = placement::evaluate_plan(p, spans, placement::Objective::kLatency);
  REQUIRE(plan.ok());
  double links = 0;
  for (const auto& s : plan->stages) links += s.transfer_s;
  return links;
}

// Feeds `tokens` one-stream decode tokens of one session, each `interval_ms` after the last, with `compute_ms` per
// stage. Returns how many calls reported a completed window, and advances `now`.
int feed(Calibrator& c, Clock::time_point& now, int tokens, const std::vector<double>& compute_ms, double interval_ms,
         uint64_t session = 7) {
  int completed = 0;
  for (int i = 0; i < tokens; ++i) {
    now += std::chrono::nanoseconds(std::llround(interval_ms * 1e6));
    completed += c.observe(session, steps(compute_ms), now) ? 1 : 0;
  }
  return completed;
}

}  // namespace

TEST_CASE("DeviceObservedThreeTimesSlowerThanProfiledIsPredictedThreeTimesSlowerOnlyAfterTheWindow", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  auto before = placement::evaluate_plan(profiled, kRing, placement::Objective::kLatency);
  REQUIRE(before.ok());
  const std::vector<double> profile_ms = stage_ms(*before);  // 3.01, 4, 2.01
  const std::vector<double> observed = {profile_ms[0], 3 * profile_ms[1], profile_ms[2]};
  Clock::time_point now{};
  // The session's prefill token: it starts the interval of the first decode step.
  CHECK_FALSE(c.observe(7, steps({30, 40, 20}, /*rows=*/12), now));
  CHECK(feed(c, now, o.warmup + o.window - 1, observed, 20) == 0);
  {
    auto still = placement::evaluate_plan(c.apply("m", profiled), kRing, placement::Objective::kLatency);
    REQUIRE(still.ok());
    CHECK(stage_ms(*still)[1] == Approx(profile_ms[1]));  // the window is one step short
    CHECK(c.source("m") == "start-up profile");
  }
  CHECK(feed(c, now, 1, observed, 20) == 1);
  auto after = placement::evaluate_plan(c.apply("m", profiled), kRing, placement::Objective::kLatency);
  REQUIRE(after.ok());
  CHECK(stage_ms(*after)[0] == Approx(observed[0]));
  CHECK(stage_ms(*after)[1] == Approx(observed[1]));
  CHECK(stage_ms(*after)[1] == Approx(3 * profile_ms[1]));
  CHECK(stage_ms(*after)[2] == Approx(observed[2]));
  CHECK(c.source("m") == "calibrated from 16 one-stream decode steps of this plan");
  CHECK(c.apply("another model", profiled).devices[1].flops == profiled.devices[1].flops);
}

TEST_CASE("PrefillAndBatchedStepsDoNotPolluteTheCalibration", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  const std::vector<double> observed = {6.02, 8, 4.02};  // every device twice slower than profiled
  Clock::time_point now{};
  int completed = 0;
  for (int i = 0; i < o.warmup + o.window + 1; ++i) {  // session 9's first token has no interval
    now += std::chrono::milliseconds(40);
    completed += c.observe(7, steps({60, 80, 40}, /*rows=*/9), now);    // another session's prefill
    completed += c.observe(8, steps({9, 12, 6}, 1, /*batch=*/2), now);  // a batched decode step
    completed += c.observe(9, steps(observed), now);
  }
  CHECK(completed == 1);
  const auto calibrated = c.apply("m", profiled);
  for (int d = 0; d < 3; ++d) CHECK(calibrated.devices[d].flops == Approx(profiled.devices[d].flops / 2));
  CHECK(c.to_json()["stage_observed_ms"][1].get<double>() == Approx(8));
}

TEST_CASE("HopOverheadEntersTheOneStreamPredictionOncePerHop", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  const std::vector<double> observed = {3.01, 4, 2.01};
  const double hop_ms = 2.5;
  const double interval_ms = 3.01 + 4 + 2.01 + modelled_links_s(profiled, kRing) * 1000 + 3 * hop_ms;
  Clock::time_point now{};
  REQUIRE(feed(c, now, o.warmup + o.window + 1, observed, interval_ms) == 1);
  const auto calibrated = c.apply("m", profiled);
  CHECK(calibrated.hop_overhead_s * 1000 == Approx(hop_ms).margin(1e-3));
  // The plan it was calibrated on is predicted at what was observed.
  auto same = placement::evaluate_plan(calibrated, kRing, placement::Objective::kLatency);
  REQUIRE(same.ok());
  CHECK(same->latency_s * 1000 == Approx(interval_ms).margin(1e-3));
  // A two-stage plan pays two hops, a one-stage plan none.
  const std::vector<placement::StageSpan> two = {{0, 0, 5}, {1, 6, 10}};
  auto two_stages = placement::evaluate_plan(calibrated, two, placement::Objective::kLatency);
  REQUIRE(two_stages.ok());
  CHECK(two_stages->latency_s * 1000 ==
        Approx(3.01 + 2 + 4 + 0.01 + modelled_links_s(profiled, two) * 1000 + 2 * hop_ms).margin(1e-3));
  auto alone = placement::evaluate_plan(calibrated, {{0, 0, 10}}, placement::Objective::kLatency);
  REQUIRE(alone.ok());
  CHECK(alone->latency_s * 1000 == Approx(9.02).margin(1e-3));
}

TEST_CASE("LinksFasterThanTheirProbesAreScaledToTheObservedInterval", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  const double links_ms = modelled_links_s(profiled, kRing) * 1000;
  const double interval_ms = 9.02 + links_ms / 4;  // the ring's messages took a quarter of what the probes said
  Clock::time_point now{};
  REQUIRE(feed(c, now, o.warmup + o.window + 1, {3.01, 4, 2.01}, interval_ms) == 1);
  const auto calibrated = c.apply("m", profiled);
  CHECK(calibrated.hop_overhead_s == 0);
  CHECK(modelled_links_s(calibrated, kRing) * 1000 == Approx(links_ms / 4).margin(1e-4));
  auto plan = placement::evaluate_plan(calibrated, kRing, placement::Objective::kLatency);
  REQUIRE(plan.ok());
  CHECK(plan->latency_s * 1000 == Approx(interval_ms).margin(1e-4));
}

TEST_CASE("OneStagePlanCalibratesTheHeadsStepOverhead", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  const std::vector<placement::StageSpan> alone = {{0, 0, 10}};
  c.start_plan("m", profiled, alone);
  Clock::time_point now{};
  REQUIRE(feed(c, now, o.warmup + o.window + 1, {27.06}, 31.06) == 1);  // 3x slower, 4 ms beside the compute
  const auto calibrated = c.apply("m", profiled);
  CHECK(calibrated.step_overhead_s * 1000 == Approx(4).margin(1e-3));
  CHECK(calibrated.hop_overhead_s == 0);
  auto plan = placement::evaluate_plan(calibrated, alone, placement::Objective::kLatency);
  REQUIRE(plan.ok());
  CHECK(plan->latency_s * 1000 == Approx(31.06).margin(1e-3));
}

TEST_CASE("WaitingBehindAnotherSessionIsNotCountedAsOverhead", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  const double links_ms = modelled_links_s(profiled, kRing) * 1000;
  Clock::time_point now{};
  REQUIRE(c.observe(7, steps({3.01, 4, 2.01}), now) == false);
  int completed = 0;
  for (int i = 0; i < o.warmup + o.window; ++i) {
    auto stats = steps({3.01, 4, 2.01});
    stats[1].queue_ms = 5;  // stage 1 was busy with another session's step when this one arrived
    now += std::chrono::microseconds(static_cast<int64_t>((9.02 + links_ms + 5) * 1000));
    completed += c.observe(7, stats, now);
  }
  REQUIRE(completed == 1);
  CHECK(c.apply("m", profiled).hop_overhead_s == Approx(0).margin(1e-6));
}

TEST_CASE("CalibratedSpeedsCarryOverToAPlanOfAnotherPolicy", "[calibration]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  Clock::time_point now{};
  REQUIRE(feed(c, now, o.warmup + o.window + 1, {3.01, 12, 2.01}, 30) == 1);
  // The next plan (another peer rule, say) is announced: its window has not run, the learned speeds still hold.
  const std::vector<placement::StageSpan> other = {{0, 0, 2}, {2, 3, 6}, {1, 7, 10}};
  c.start_plan("m", profiled, other);
  auto plan = placement::evaluate_plan(c.apply("m", profiled), other, placement::Objective::kLatency);
  REQUIRE(plan.ok());
  CHECK(plan->stages[2].compute_s * 1000 == Approx(3 * 3.01));  // d1 three times slower, on its new layers
  CHECK(c.source("m") == "calibrated from 16 one-stream decode steps of an earlier plan");
}

TEST_CASE("SlowdownAfterCalibrationStillTriggersAReplanWithTheNewSpeed", "[calibration][rebalance]") {
  const placement::PlacementProblem profiled = three_equal_devices();
  CalibrationOptions o;
  Calibrator c(o);
  c.start_plan("m", profiled, kRing);
  RebalanceOptions r;
  r.cooldown_s = 0;
  SlowdownDetector detector(r);
  detector.reset(3, Clock::time_point{});
  // Every device runs three times slower than its start-up profile said, evenly: calibration, not a slowdown.
  const std::vector<double> calm = {9.03, 12, 6.03};
  Clock::time_point now{};
  for (int i = 0; i < r.warmup + r.calibration + o.warmup + o.window + 1; ++i) {
    now += std::chrono::milliseconds(30);
    (void)c.observe(7, steps(calm), now);
    for (int s = 0; s < 3; ++s) detector.observe(s, calm[s]);
  }
  REQUIRE(c.plan_calibrated());
  CHECK_FALSE(detector.slowdown(now).has_value());
  // Then d1 slows down four times more.
  for (int i = 0; i < r.window + 2; ++i) {
    for (int s = 0; s < 3; ++s) detector.observe(s, s == 1 ? 4 * calm[s] : calm[s]);
  }
  auto slowdown = detector.slowdown(now);
  REQUIRE(slowdown.has_value());
  CHECK((*slowdown)[1] > 3);
  placement::SolveOptions solve;
  auto decision = decide_replan(c.apply("m", profiled), kRing, *slowdown, solve, r);
  REQUIRE(decision.ok());
  INFO(decision->reason);
  CHECK(decision->apply);
  // The new plan is priced from the calibrated speed times the slowdown, and so is any later plan.
  CHECK(decision->problem.devices[1].flops == Approx(profiled.devices[1].flops / 3 / (*slowdown)[1]));
  c.scale_device("d1", (*slowdown)[1]);
  CHECK(c.apply("m", profiled).devices[1].flops == Approx(decision->problem.devices[1].flops));
}

TEST_CASE("SolverWeighsTheCalibratedHopOverheadAgainstAFasterDevice", "[calibration]") {
  placement::PlacementProblem p = three_equal_devices();
  p.devices[0].flops = 1e8;   // the head: 10 ms per block
  p.devices[1].flops = 1e10;  // 0.1 ms per block, two hops away and back
  placement::SolveOptions solve;
  auto split = placement::solve_placement(p, solve);
  REQUIRE(split.ok());
  CHECK(split->stages.size() > 1);  // free hops: the fast device takes the blocks
  p.hop_overhead_s = 0.1;           // each message costs more than the head's 90 ms of blocks
  auto alone = placement::solve_placement(p, solve);
  REQUIRE(alone.ok());
  INFO(alone->solver << " " << alone->latency_s);
  CHECK(alone->stages.size() == 1);
  CHECK(alone->latency_s == Approx(9 * 0.01 + 2 * 1e-4));
}
