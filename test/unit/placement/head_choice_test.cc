// The head as a decision of the solver (SolveOptions::choose_head): the device that tokenizes and runs stage 0 is
// whichever gives the best plan, not whoever won the election — with the incumbent kept on near-ties.
#include <catch2/catch.hpp>

#include "placement/solver.h"
#include "placement_test_util.h"

using namespace ll;
using namespace ll::placement;
using testing::make_device;
using testing::uniform_problem;

namespace {

Result<Plan> solve(const PlacementProblem& p, bool choose_head, double margin = 0.05) {
  SolveOptions options;
  options.choose_head = choose_head;
  options.head_margin = margin;
  return solve_placement(p, options);
}

}  // namespace

TEST_CASE("ASlowLeaderHandsTheHeadToTheDeviceThatServesItBest", "[placement][head]") {
  auto p =
      uniform_problem({make_device("b", 1000, 4e9), make_device("slow-leader", 1000, 1e8), make_device("c", 1000, 2e9)},
                      8, 10, 1e8, 4096, 1e8, 1e-4);
  p.head = 1;
  auto fixed = solve(p, false);
  REQUIRE(fixed.ok());
  CHECK(fixed->stages.front().device == 1);
  auto chosen = solve(p, true);
  REQUIRE(chosen.ok());
  CHECK(chosen->stages.front().device != 1);
  CHECK(chosen->objective_value() < fixed->objective_value());
  // The best over every possible head, each proven by brute force.
  double best = std::numeric_limits<double>::infinity();
  for (int h = 0; h < p.num_devices(); ++h) {
    PlacementProblem q = p;
    q.head = h;
    const auto brute = testing::brute_force(q, Objective::kLatency);
    if (brute.feasible) best = std::min(best, brute.best);
  }
  CHECK(testing::close(chosen->objective_value(), best));
  CHECK(chosen->note.find("head b chosen over slow-leader") != std::string::npos);
}

TEST_CASE("EqualDevicesKeepTheIncumbentHead", "[placement][head]") {
  auto p = uniform_problem({make_device("a", 1000, 1e9), make_device("b", 1000, 1e9), make_device("c", 1000, 1e9)}, 6,
                           10, 1e8, 4096);
  for (int incumbent = 0; incumbent < 3; ++incumbent) {
    p.head = incumbent;
    auto plan = solve(p, true);
    REQUIRE(plan.ok());
    CHECK(plan->stages.front().device == incumbent);
  }
}

TEST_CASE("AnIncumbentThatCannotHoldShardZeroIsReplacedInsteadOfInfeasible", "[placement][head]") {
  auto p = uniform_problem({make_device("tiny-leader", 5, 1e9), make_device("b", 1000, 1e9)}, 4, 10, 1e8, 4096);
  p.head = 0;
  auto fixed = solve(p, false);
  REQUIRE_FALSE(fixed.ok());
  CHECK(fixed.error().find("cannot hold shard 0") != std::string::npos);
  auto chosen = solve(p, true);
  REQUIRE(chosen.ok());
  CHECK(chosen->stages.front().device == 1);
}

TEST_CASE("AnotherHeadWinsOnlyBeyondTheMargin", "[placement][head]") {
  // Each device can hold the whole model; b is 3 % faster than the incumbent a, and links are slow enough that the
  // best plans run on one device.
  auto p = uniform_problem({make_device("a", 1000, 0.97e9), make_device("b", 1000, 1e9)}, 4, 10, 1e8, 4096, 1e5, 0.5);
  p.head = 0;
  auto kept = solve(p, true, 0.05);
  REQUIRE(kept.ok());
  CHECK(kept->stages.front().device == 0);
  auto moved = solve(p, true, 0.0);
  REQUIRE(moved.ok());
  CHECK(moved->stages.front().device == 1);
}
