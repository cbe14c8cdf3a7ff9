// The plan fence: which plans a device takes (deploy/plan_fence.h).
#include <catch2/catch.hpp>

#include "deploy/plan_fence.h"

using ll::deploy::kPlanTermShift;
using ll::deploy::PlanFence;

namespace {

ll::proto::PlanMsg plan_of(uint64_t term, uint64_t counter) {
  ll::proto::PlanMsg plan;
  plan.term = term;
  plan.plan_version = (term << kPlanTermShift) | counter;
  return plan;
}

}  // namespace

TEST_CASE("PlanFromTheLeaderOfTheTermIsAccepted", "[plan_fence]") {
  PlanFence fence;
  (void)fence.set_leader(5, "a", "KEY-A");
  CHECK(fence.check(plan_of(5, 1), "KEY-A").verdict == PlanFence::Verdict::kAccept);
}

TEST_CASE("DeposedLeadersPlanIsRefused", "[plan_fence]") {
  PlanFence fence;
  (void)fence.set_leader(6, "b", "KEY-B");
  const auto checked = fence.check(plan_of(5, 9), "KEY-A");
  CHECK(checked.verdict == PlanFence::Verdict::kRefuse);
  CHECK(checked.reason.find("deposed") != std::string::npos);
}

TEST_CASE("PlanOfTheCurrentTermFromAnotherDeviceKeyIsRefused", "[plan_fence]") {
  PlanFence fence;
  (void)fence.set_leader(5, "a", "KEY-A");
  CHECK(fence.check(plan_of(5, 2), "KEY-M").verdict == PlanFence::Verdict::kRefuse);
}

TEST_CASE("VersionThatDoesNotCarryItsTermIsRefused", "[plan_fence]") {
  PlanFence fence;
  (void)fence.set_leader(5, "a", "KEY-A");
  auto plan = plan_of(5, 1);
  plan.plan_version = ~uint64_t{0};  // the largest version: would make every later plan look stale
  CHECK(fence.check(plan, "KEY-A").verdict == PlanFence::Verdict::kRefuse);
}

TEST_CASE("PlanOfALaterTermIsHeldUntilTheNodeKnowsItsLeader", "[plan_fence]") {
  PlanFence fence;
  (void)fence.set_leader(5, "a", "KEY-A");
  CHECK(fence.check(plan_of(6, 1), "KEY-B").verdict == PlanFence::Verdict::kHold);
  CHECK(fence.check(plan_of(6, 3), "KEY-B").verdict == PlanFence::Verdict::kHold);
  CHECK(fence.check(plan_of(6, 2), "KEY-B").verdict == PlanFence::Verdict::kHold);  // older: not kept
  CHECK_FALSE(fence.set_leader(6, "", "").has_value());  // term 6 known, its leader not yet heard: still held
  auto released = fence.set_leader(6, "b", "KEY-B");
  REQUIRE(released.has_value());
  CHECK(released->plan_version == plan_of(6, 3).plan_version);  // the newest of those held
  CHECK_FALSE(fence.set_leader(6, "b", "KEY-B").has_value());   // released once
}

TEST_CASE("HeldPlanWhoseSenderTurnsOutNotToLeadIsDropped", "[plan_fence]") {
  PlanFence fence;
  (void)fence.set_leader(5, "a", "KEY-A");
  CHECK(fence.check(plan_of(9, 1), "KEY-M").verdict == PlanFence::Verdict::kHold);
  CHECK_FALSE(fence.set_leader(9, "b", "KEY-B").has_value());
  CHECK_FALSE(fence.set_leader(9, "b", "KEY-B").has_value());
}

TEST_CASE("NothingIsAcceptedBeforeTheNodeReports", "[plan_fence]") {
  PlanFence fence;
  CHECK(fence.check(plan_of(0, 1), "").verdict == PlanFence::Verdict::kHold);
}
