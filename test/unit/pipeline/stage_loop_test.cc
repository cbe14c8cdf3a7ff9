// The data plane's races, deterministically, on a simulated ring (sim_ring.h).
#include <catch2/catch.hpp>
#include <set>

#include "sim_ring.h"

using namespace ll;
using namespace ll::pipeline;
using namespace ll::pipeline::test_ring;

TEST_CASE("ThreeStageRingSaysWhatOneStageSays", "[stage_loop]") {
  const auto expected = one_stage_answer(30);
  CHECK(std::set<int32_t>(expected.begin(), expected.end()).size() > 10);  // the fake's answers are not constant
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 30);
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "max_tokens");
  CHECK(ring.seen().tokens == expected);
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("PlanSwitchWithAnActivationInFlightDropsItAndReplaysExactly", "[stage_loop][replan]") {
  const auto expected = one_stage_answer(40);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 40);
  ring.settle([&] { return ring.seen().tokens.size() >= 12; });
  // The head's next activation (plan 1) is on its way to stage 1 when every stage switches to plan 2.
  ring.hub().hold(ring.endpoint(0), ring.endpoint(1));
  ring.settle();
  REQUIRE_FALSE(ring.seen().done);  // the ring stands still: the activation is held
  ring.plan(2, {0, 1, 2}, {{0, 1}, {2, 5}, {6, 6}});
  for (int i : {2, 1, 0}) ring.stage(i).turn(Duration(0));  // applied, the head last (as the leader does)
  ring.hub().release(ring.endpoint(0), ring.endpoint(1));   // the stale activation now arrives
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.stage(0).stats().replayed_sessions == 1);
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("ReplayOfALongSessionInSeveralStepsRebuildsEveryCacheExactly", "[stage_loop][replan]") {
  const auto expected = one_stage_answer(200);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 3}, {4, 4}, {5, 6}});
  ring.generate(kPrompt, 200);
  ring.settle([&] { return ring.seen().tokens.size() >= 150; });  // 150 rows: three replay steps
  ring.plan(2, {0, 1, 2}, {{0, 0}, {1, 2}, {3, 6}});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);  // a missing or repeated row of any cache would change every later token
}

TEST_CASE("StageLostMidStepIsReplacedAndTheGenerationContinuesExactly", "[stage_loop][failover]") {
  const auto expected = one_stage_answer(60);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 60);
  ring.settle([&] { return ring.seen().tokens.size() >= 20; });
  // Stage 1's process dies with a step in its queue and another on the way: both are lost with it.
  ring.hub().kill_process(ring.endpoint(1));
  ring.settle();
  REQUIRE(ring.seen().tokens.size() >= 20);
  CHECK_FALSE(ring.seen().done);  // the head waits for a new plan; the client is not failed
  ring.plan(2, {0, 2}, {{0, 3}, {4, 6}});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.open_sessions(0) == 0);
  CHECK(ring.open_sessions(2) == 0);
}

TEST_CASE("SessionEndOvertakingItsLastActivationOpensNoCache", "[stage_loop]") {
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 100);
  ring.settle([&] { return ring.seen().tokens.size() >= 5; });
  // Stage 1's next activation for the tail is held; the client cancels; the head's session_end reaches the tail
  // first, and the activation after it.
  ring.hub().hold(ring.endpoint(1), ring.endpoint(2));
  ring.settle();
  ring.send_from_client(0, proto::CancelMsg{ring.seen().session});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "cancelled");
  CHECK(ring.open_sessions(2) == 0);
  ring.hub().release(ring.endpoint(1), ring.endpoint(2));
  ring.settle();
  CHECK(ring.open_sessions(2) == 0);  // the late activation did not open a fresh cache
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("TwoReplansRacingSettleOnTheNewestPlan", "[stage_loop][replan]") {
  const auto expected = one_stage_answer(50);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 50);
  ring.settle([&] { return ring.seen().tokens.size() >= 10; });
  // Plans 2 and 3 are applied by threads that race: stage 1 gets plan 3 before plan 2, the others in order.
  auto plan2 = ring.configs(2, {0, 1, 2}, {{0, 1}, {2, 3}, {4, 6}});
  auto plan3 = ring.configs(3, {0, 1, 2}, {{0, 4}, {5, 5}, {6, 6}});
  ring.stage(2).configure(plan2[2].second);
  ring.stage(1).configure(plan3[1].second);
  ring.stage(1).configure(plan2[1].second);  // late: must not take stage 1 back to plan 2
  ring.stage(2).configure(plan3[2].second);
  ring.stage(0).configure(plan2[0].second);
  ring.stage(0).configure(plan3[0].second);
  ring.settle();
  for (int i = 0; i < 3; ++i) CHECK(ring.stage(i).stats().plan_version == 3);
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
}

TEST_CASE("LostActivationEndsTheSessionAtTheIdleTimeoutAndFreesEveryCache", "[stage_loop]") {
  SimRing ring(2, /*idle_timeout_s=*/30);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  ring.generate(kPrompt, 100);
  ring.settle([&] { return ring.seen().tokens.size() >= 3; });
  ring.hub().partition(ring.endpoint(0), ring.endpoint(1));  // every activation and token from now on is lost
  ring.settle();
  REQUIRE_FALSE(ring.seen().done);
  CHECK(ring.open_sessions(0) == 1);
  ring.clock().advance(std::chrono::milliseconds(2500));
  ring.round();
  CHECK(ring.seen().keepalives == 1);  // silent work: the client hears the head is alive
  CHECK_FALSE(ring.seen().done);
  ring.clock().advance(std::chrono::seconds(30));
  ring.round();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "timeout");
  CHECK(ring.open_sessions(0) == 0);
  CHECK(ring.open_sessions(1) == 0);  // the tail's own idle timer freed its copy
}

TEST_CASE("ErrorFromAPeerIsNeverAnsweredBack", "[stage_loop]") {
  // Two stages trading "not a request" errors would loop forever; an answer is taken in and dropped.
  SimRing ring(2);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  net::InprocTransport peer(ring.hub(), "peer");
  auto frames = proto::encode_data_message(proto::DataErrorMsg{"bad_request", "not a request"});
  REQUIRE(frames.ok());
  REQUIRE(peer.send(ring.endpoint(1), *frames).ok());
  proto::DoneMsg stray;
  auto done_frames = proto::encode_data_message(stray);
  REQUIRE(done_frames.ok());
  REQUIRE(peer.send(ring.endpoint(1), *done_frames).ok());
  ring.settle();
  auto answer = peer.receive(Duration(0));
  REQUIRE(answer);  // the stray done gets one error ...
  auto decoded = proto::decode_data_message(answer->frames);
  REQUIRE(decoded.ok());
  CHECK(std::holds_alternative<proto::DataErrorMsg>(*decoded));
  CHECK_FALSE(peer.receive(Duration(0)));  // ... the error gets nothing
}

TEST_CASE("PeerOfAnotherProtocolVersionIsToldSoNotMalformed", "[stage_loop][protocol]") {
  SimRing ring(1);
  ring.plan(1, {0}, {{0, 6}});
  net::InprocTransport peer(ring.hub(), "peer");
  REQUIRE(peer.send(ring.endpoint(0), {R"({"v":2,"type":"generate","prompt":"hi","max_tokens":1})"}).ok());
  REQUIRE(peer.send(ring.endpoint(0), {"not json"}).ok());
  ring.settle();
  std::vector<std::string> codes;
  while (auto answer = peer.receive(Duration(0))) {
    auto decoded = proto::decode_data_message(answer->frames);
    REQUIRE(decoded.ok());
    REQUIRE(std::holds_alternative<proto::DataErrorMsg>(*decoded));
    codes.push_back(std::get<proto::DataErrorMsg>(*decoded).code);
  }
  CHECK(codes == std::vector<std::string>{"unsupported_version", "malformed"});
}

TEST_CASE("AGenerationAskedForAfterTheRingBrokeIsRefusedUntilANewPlan", "[stage_loop][failover]") {
  SimRing ring(2);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  ring.round();  // the plan is in force
  // The survivors cannot hold the model: the daemon tells the head the ring cannot continue.
  ring.stage(0).abort_sessions("cannot continue without b: infeasible");
  ring.round();
  ring.generate(kPrompt, 20);
  ring.settle();
  // Before: admitted, and then waited on the broken ring until the idle timeout, to end as if all were well.
  REQUIRE(ring.seen().error);
  CHECK(ring.seen().error->code == "unavailable");
  CHECK(ring.seen().error->message.find("cannot continue") != std::string::npos);
  CHECK(ring.open_sessions(0) == 0);
  // A new plan mends it.
  ring.plan(2, {0, 1}, {{0, 2}, {3, 6}});
  ring.settle();
  ring.generate(kPrompt, 20);
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens.size() == 20);
}

TEST_CASE("AHeadLeftOutOfTheNewRingSendsItsSessionsToTheNewHead", "[stage_loop][replan]") {
  SimRing ring(2);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  ring.generate(kPrompt, 100);
  ring.settle([&] { return ring.seen().tokens.size() >= 5; });
  // The re-plan makes this head a standby: its loader tells the stage it is out of plan 2's ring.
  ring.stage(0).leave_ring(2);
  ring.round();
  // Before: the session stayed on the old head, waiting on a ring that was gone, until the idle timeout.
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "head_moved");
  CHECK(ring.open_sessions(0) == 0);
  ring.generate(kPrompt, 5);  // and it is no head any more
  ring.settle();
  REQUIRE(ring.seen().error);
  CHECK(ring.seen().error->code == "not_ready");
}
