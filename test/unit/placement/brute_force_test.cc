// The MIP and the exact DP against brute force on random small instances (<= 4 devices, <= 10 shards, asymmetric
// and missing links, tight memory, both objectives, with and without a seeded incumbent).
#include <catch2/catch.hpp>
#include <cstdio>

#include "placement/cost_model.h"
#include "placement/exact_dp.h"
#include "placement/heuristics.h"
#include "placement/mip.h"
#include "placement_test_util.h"

namespace ll::placement {
namespace {

using testing::brute_force;
using testing::close;

struct Counts {
  int instances = 0, feasible = 0, mip_agree = 0, dp_agree = 0, infeasible_agree = 0;
};

Counts run_random(uint64_t seed, int count, Objective objective, bool seeded, Formulation formulation,
                  double first_solve_s = 0.3) {
  std::mt19937_64 rng(seed);
  Counts c;
  for (int k = 0; k < count; ++k) {
    const PlacementProblem p = testing::random_problem(rng, 4, 10);
    const auto brute = brute_force(p, objective);
    MipOptions options;
    options.time_limit_s = 30;
    options.formulation = formulation;
    options.first_solve_s = first_solve_s;
    if (seeded) {
      auto h = heuristic_plan(p, objective);
      if (h.ok()) options.incumbent = *h;
    }
    const auto mip = solve_mip(p, objective, options);
    const auto dp = solve_exact_dp(p, objective);
    ++c.instances;
    INFO("instance " << k << " seed " << seed << " objective " << objective_name(objective) << " shards "
                     << p.num_shards() << " devices " << p.num_devices());
    if (!brute.feasible) {
      CHECK_FALSE(mip.ok());
      CHECK_FALSE(dp.ok());
      if (!mip.ok() && mip.error().rfind("infeasible", 0) == 0 && !dp.ok()) ++c.infeasible_agree;
      continue;
    }
    ++c.feasible;
    INFO("mip: " << (mip.ok() ? std::string("ok") : mip.error())
                 << " dp: " << (dp.ok() ? std::string("ok") : dp.error()) << " brute " << brute.best);
    REQUIRE(mip.ok());
    REQUIRE(dp.ok());
    CHECK(mip->optimal);
    // GLPK's own objective value, and the cost of the plan it returned re-priced from scratch.
    CHECK(close(mip->solver_objective_s, brute.best));
    auto repriced = evaluate_plan(p, mip->spans(), objective);
    REQUIRE(repriced.ok());
    CHECK(close(repriced->objective_value(), brute.best));
    CHECK(close(dp->objective_value(), brute.best));
    if (close(mip->solver_objective_s, brute.best) && close(repriced->objective_value(), brute.best)) ++c.mip_agree;
    if (close(dp->objective_value(), brute.best)) ++c.dp_agree;
  }
  std::printf(
      "brute force (%s, %s, %s): %d instances, %d feasible, MIP optimal+agrees %d/%d, DP agrees %d/%d, "
      "infeasible agreed %d/%d\n",
      formulation == Formulation::kRuns ? "runs MIP" : "assignment MIP", objective_name(objective),
      seeded ? "seeded" : "unseeded", c.instances, c.feasible, c.mip_agree, c.feasible, c.dp_agree, c.feasible,
      c.infeasible_agree, c.instances - c.feasible);
  return c;
}

TEST_CASE("MIP latency objective differs from brute-force optimum on random small instances") {
  for (Formulation f : {Formulation::kRuns, Formulation::kAssignment}) {
    const Counts c = run_random(1, 500, Objective::kLatency, false, f);
    CHECK(c.mip_agree == c.feasible);
    CHECK(c.infeasible_agree == c.instances - c.feasible);
    CHECK(c.feasible > 200);
  }
}

TEST_CASE("MIP throughput objective differs from brute-force optimum on random small instances") {
  for (Formulation f : {Formulation::kRuns, Formulation::kAssignment}) {
    const Counts c = run_random(2, 500, Objective::kThroughput, false, f);
    CHECK(c.mip_agree == c.feasible);
    CHECK(c.infeasible_agree == c.instances - c.feasible);
    CHECK(c.feasible > 200);
  }
}

TEST_CASE("MIP seeded with a heuristic incumbent (and its objective cutoff) loses optimality") {
  for (Formulation f : {Formulation::kRuns, Formulation::kAssignment}) {
    const Counts a = run_random(3, 250, Objective::kLatency, true, f);
    const Counts b = run_random(4, 250, Objective::kThroughput, true, f);
    CHECK(a.mip_agree == a.feasible);
    CHECK(b.mip_agree == b.feasible);
  }
}

TEST_CASE("throughput bisection (runs MIP without the plain first solve) misses the optimum") {
  const Counts c = run_random(6, 300, Objective::kThroughput, true, Formulation::kRuns, 0.0);
  CHECK(c.mip_agree == c.feasible);
  CHECK(c.infeasible_agree == c.instances - c.feasible);
}

TEST_CASE("ordered DP is never better than the optimum (it is a restriction)") {
  std::mt19937_64 rng(5);
  for (int k = 0; k < 200; ++k) {
    const PlacementProblem p = testing::random_problem(rng, 4, 10);
    for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
      const auto brute = brute_force(p, o);
      const auto h = heuristic_plan(p, o);
      if (h.ok()) {
        REQUIRE(brute.feasible);
        CHECK(h->objective_value() >= brute.best * (1 - 1e-9));
      }
    }
  }
}

}  // namespace
}  // namespace ll::placement

namespace ll::placement {
namespace {

TEST_CASE("run MIP disagrees with the exact DP on medium instances (5-8 devices, 20-40 shards)") {
  std::mt19937_64 rng(7);
  int feasible = 0, agree = 0, proven = 0;
  for (int k = 0; k < 12; ++k) {
    PlacementProblem p = testing::random_problem(rng, 8, 40);
    if (p.num_devices() < 5 || p.num_shards() < 20) {
      --k;
      continue;
    }
    for (Objective o : {Objective::kLatency, Objective::kThroughput}) {
      const auto dp = solve_exact_dp(p, o);
      MipOptions options;
      options.time_limit_s = 20;
      auto seed = heuristic_plan(p, o);
      if (seed.ok()) options.incumbent = *seed;
      const auto mip = solve_mip(p, o, options);
      INFO("instance " << k << " " << objective_name(o) << " devices " << p.num_devices() << " shards "
                       << p.num_shards());
      CHECK(dp.ok() == mip.ok());
      if (!dp.ok() || !mip.ok()) continue;
      ++feasible;
      if (mip->optimal) ++proven;
      CHECK(mip->optimal);
      CHECK(testing::close(mip->objective_value(), dp->objective_value()));
      if (testing::close(mip->objective_value(), dp->objective_value())) ++agree;
    }
  }
  std::printf("medium instances (run MIP vs exact DP): %d feasible solves, %d proven optimal, %d agree\n", feasible,
              proven, agree);
}

}  // namespace
}  // namespace ll::placement
