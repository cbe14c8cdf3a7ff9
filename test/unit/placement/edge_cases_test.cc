// Edge cases of placement, each named after the failure it pins: one device, a device too small for any shard, a
// device without links, the head device weakest of all, infeasible clusters, missing return links.
#include <catch2/catch.hpp>

#include "placement/cost_model.h"
#include "placement/exact_dp.h"
#include "placement/mip.h"
#include "placement/solver.h"
#include "placement_test_util.h"

namespace ll::placement {
namespace {

using testing::make_device;
using testing::uniform_problem;

// Solves with every method and checks they agree with brute force; returns the solve_placement plan.
Plan solve_all_ways(const PlacementProblem& p, Objective objective) {
  const auto brute = testing::brute_force(p, objective);
  REQUIRE(brute.feasible);
  for (Formulation f : {Formulation::kRuns, Formulation::kAssignment}) {
    MipOptions mo;
    mo.formulation = f;
    auto mip = solve_mip(p, objective, mo);
    REQUIRE(mip.ok());
    CHECK(mip->optimal);
    CHECK(testing::close(mip->objective_value(), brute.best));
  }
  auto dp = solve_exact_dp(p, objective);
  REQUIRE(dp.ok());
  CHECK(testing::close(dp->objective_value(), brute.best));
  SolveOptions options;
  options.objective = objective;
  auto plan = solve_placement(p, options);
  REQUIRE(plan.ok());
  CHECK(testing::close(plan->objective_value(), brute.best));
  CHECK(plan->stages.front().device == p.head);
  return std::move(plan).value();
}

TEST_CASE("one device: plan has one stage and no transfer cost") {
  auto p = uniform_problem({make_device("solo", 1000, 1e9)}, 5, 10, 1e6, 4096);
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    const Plan plan = solve_all_ways(p, o);
    REQUIRE(plan.stages.size() == 1);
    CHECK(plan.stages[0].transfer_s == 0);
    CHECK(plan.stages[0].next_device == -1);
    CHECK(testing::close(plan.latency_s, 5 * 1e6 / 1e9));
  }
}

TEST_CASE("device too small for any shard is never given shards and does not break the solvers") {
  auto p = uniform_problem({make_device("head", 30, 1e9), make_device("tiny", 5, 1e12), make_device("big", 100, 2e9)},
                           6, 10, 1e6, 4096);
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    const Plan plan = solve_all_ways(p, o);
    for (const auto& s : plan.stages) CHECK(s.device != 1);
  }
}

TEST_CASE("device with no links is left out instead of producing a plan that cannot talk") {
  auto p = uniform_problem(
      {make_device("head", 30, 1e9), make_device("island", 1000, 1e12), make_device("b", 100, 2e9)}, 6, 10, 1e6, 4096);
  for (int d = 0; d < 3; ++d) {
    p.links[1][d] = Link{};
    p.links[d][1] = Link{};
  }
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    const Plan plan = solve_all_ways(p, o);
    for (const auto& s : plan.stages) CHECK(s.device != 1);
  }
}

TEST_CASE("weakest head device still runs the first stage and keeps little") {
  auto p =
      uniform_problem({make_device("b", 1000, 4e9), make_device("weak-head", 1000, 1e8), make_device("c", 1000, 2e9)},
                      8, 10, 1e8, 4096, 1e8, 1e-4);
  p.head = 1;
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    const Plan plan = solve_all_ways(p, o);
    CHECK(plan.stages.front().device == 1);
    CHECK(plan.stages.front().first_shard == 0);
    CHECK(plan.stages.front().last_shard == 0);  // one shard (1 s) there is already the worst stage
    CHECK(plan.stages.size() >= 2);
  }
}

TEST_CASE("device without a link back to the head is never the last stage") {
  auto p = uniform_problem({make_device("head", 100, 1e9), make_device("fast", 1000, 1e12)}, 6, 10, 1e8, 4096);
  p.links[1][0] = Link{};
  for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
    const Plan plan = solve_all_ways(p, o);
    REQUIRE(plan.stages.size() == 1);  // so everything stays on the head
  }
}

TEST_CASE("cluster too small reports how much memory is missing in one line") {
  auto p = uniform_problem({make_device("head", 30, 1e9), make_device("b", 20, 1e9)}, 6, 10, 1e6, 4096);
  auto plan = solve_placement(p, SolveOptions{});
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().find("infeasible") == 0);
  CHECK(plan.error().find("10 B missing") != std::string::npos);
  CHECK(plan.error().find('\n') == std::string::npos);
}

TEST_CASE("KV cache counts against memory: a context that does not fit is infeasible") {
  auto p = uniform_problem({make_device("head", 100, 1e9)}, 4, 10, 1e6, 4096);
  for (auto& s : p.shards) s.kv_bytes_per_token = 1;
  p.context = 15;  // 4 x (10 + 15) = 100 fits exactly
  REQUIRE(solve_placement(p, SolveOptions{}).ok());
  p.context = 16;  // 104 > 100
  auto plan = solve_placement(p, SolveOptions{});
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().find("4 B missing") != std::string::npos);
}

TEST_CASE("KvReservedForEverySessionMovesLayersOffAHeadThatFitsOnlyOneSession") {
  // 4 shards of 10 bytes, 1 byte of KV per token, context 10: one session needs 20 bytes per shard, four need 50.
  auto p = uniform_problem({make_device("head", 100, 1e10), make_device("helper", 1000, 1e9)}, 4, 10, 1e6, 4096);
  for (auto& s : p.shards) s.kv_bytes_per_token = 1;
  p.context = 10;
  p.sessions = 1;
  auto one = solve_placement(p, SolveOptions{});
  REQUIRE(one.ok());
  CHECK(one->stages.size() == 1);  // the fast head holds the whole model (80 of 100 bytes)
  p.sessions = 4;
  auto four = solve_placement(p, SolveOptions{});
  REQUIRE(four.ok());
  REQUIRE(four->stages.size() == 2);  // the head can hold KV for four sessions of two shards only
  CHECK(four->stages[0].last_shard == 1);
  CHECK(four->stages[0].memory_used_bytes == 100);
  p.sessions = 30;  // shard 0 alone needs 310 bytes: more than the head holds
  auto thirty = solve_placement(p, SolveOptions{});
  REQUIRE_FALSE(thirty.ok());
  CHECK(thirty.error().find("30 session(s)") != std::string::npos);
}

TEST_CASE("ZeroSessionsIsRefusedBeforeSolving") {
  auto p = uniform_problem({make_device("head", 100, 1e10)}, 4, 10, 1e6, 4096);
  p.sessions = 0;
  auto plan = solve_placement(p, SolveOptions{});
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().find("sessions") != std::string::npos);
}

TEST_CASE("memory enough in total but fragmented across budgets is reported as infeasible, not crashed") {
  // Shards of 10; devices of 15 each: total 45 >= 30 but each holds only one shard; three shards, two devices.
  auto p = uniform_problem({make_device("head", 15, 1e9), make_device("b", 15, 1e9)}, 3, 10, 1e6, 4096);
  auto plan = solve_placement(p, SolveOptions{});
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().find("infeasible") == 0);
}

TEST_CASE("measured per-shard seconds replace FLOP/s where given") {
  auto p = uniform_problem({make_device("head", 1000, 1e9)}, 3, 10, 1e6, 4096);
  p.devices[0].shard_seconds = {0.5, -1, 0.25};  // -1: not measured
  auto plan = evaluate_plan(p, {StageSpan{0, 0, 2}}, Objective::kLatency);
  REQUIRE(plan.ok());
  CHECK(testing::close(plan->latency_s, 0.5 + 1e-3 + 0.25));
  CHECK(plan->cost_source == "measured");
}

TEST_CASE("APlanInForceIsPricedWithItsOwnFirstDeviceAsTheHead") {
  // The solver chooses the head (docs/placement.md): a plan whose first stage is not the problem's head (the leader)
  // is priced as it runs — its tail sends the token back to its own first device.
  auto p = uniform_problem({make_device("leader", 1000, 1e9), make_device("head", 1000, 1e9)}, 4, 10, 1e6, 4096);
  auto alone = evaluate_plan(p, {StageSpan{1, 0, 3}}, Objective::kLatency);
  REQUIRE(alone.ok());
  CHECK(alone->stages[0].transfer_s == 0);  // one stage: the token stays on the head
  auto ring = evaluate_plan(p, {StageSpan{1, 0, 1}, StageSpan{0, 2, 3}}, Objective::kLatency);
  REQUIRE(ring.ok());
  CHECK(ring->stages[1].next_device == 1);
}

TEST_CASE("evaluate_plan rejects plans that break the rules") {
  auto p = uniform_problem({make_device("head", 1000, 1e9), make_device("b", 1000, 1e9)}, 4, 10, 1e6, 4096);
  CHECK_FALSE(evaluate_plan(p, {StageSpan{0, 0, 1}, StageSpan{1, 3, 3}}, Objective::kLatency).ok());  // gap
  CHECK_FALSE(evaluate_plan(p, {StageSpan{0, 0, 1}, StageSpan{0, 2, 3}}, Objective::kLatency).ok());  // reuse
  CHECK_FALSE(evaluate_plan(p, {StageSpan{0, 0, 2}}, Objective::kLatency).ok());                      // short
  p.devices[1].memory_bytes = 15;
  CHECK_FALSE(evaluate_plan(p, {StageSpan{0, 0, 1}, StageSpan{1, 2, 3}}, Objective::kLatency).ok());  // memory
}

}  // namespace
}  // namespace ll::placement

namespace ll::placement {
namespace {

TEST_CASE("throughput plan wastes hops when the bottleneck leaves freedom (tie-break on latency)") {
  auto p = uniform_problem({make_device("head", 10, 1e9), make_device("b", 1000, 1e10), make_device("c", 1000, 1e10)},
                           6, 10, 1e6, 4096);
  p.shards[0].flops_per_token = 1e9;  // the head's one shard takes 1 s: it is the bottleneck whatever follows
  SolveOptions options;
  options.objective = Objective::kThroughput;
  options.method = Method::kMip;
  auto plan = solve_placement(p, options);
  REQUIRE(plan.ok());
  CHECK(plan->optimal);
  CHECK(plan->stages.size() == 2);  // head, then one device for the rest: fewer hops, same bottleneck
  CHECK(testing::close(plan->bottleneck_s, testing::brute_force(p, Objective::kThroughput).best));
}

}  // namespace
}  // namespace ll::placement
