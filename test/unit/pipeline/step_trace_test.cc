// The head's per-step figures for a client that asked for a trace (pipeline/step_trace.h), on a simulated ring whose
// manual clock moves 1 ms per round: every stage's figures in ring order, a round trip measured on the head's clock
// that holds the other stages' phases, and nothing for a client that did not ask.
#include <catch2/catch.hpp>

#include "pipeline/step_trace.h"
#include "sim_ring.h"

using namespace ll;
using namespace ll::pipeline;
using namespace ll::pipeline::test_ring;

namespace {

void generate_traced(SimRing& ring, int max_tokens, bool trace) {
  proto::GenerateMsg request;
  request.prompt = kPrompt;
  request.max_tokens = max_tokens;
  request.ignore_eos = true;
  request.trace = trace;
  ring.send_from_client(0, request);
}

// Rounds, 1 ms of the ring's clock apart, until the generation is done.
void run_until_done(SimRing& ring) {
  for (int n = 0; n < 10000 && !ring.seen().done; ++n) {
    ring.round();
    ring.clock().advance(std::chrono::milliseconds(1));
  }
  REQUIRE(ring.seen().done);
}

}  // namespace

TEST_CASE("TracedGenerationGetsEveryStagesFiguresWithEachTokenInRingOrder", "[stage_loop][trace]") {
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  generate_traced(ring, 12, true);
  run_until_done(ring);
  const auto& seen = ring.seen();
  REQUIRE(seen.tokens.size() == 12);
  REQUIRE(seen.traces.size() == seen.tokens.size());
  for (size_t k = 0; k < seen.traces.size(); ++k) {
    const proto::StepTrace& t = seen.traces[k];
    REQUIRE(t.stages.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(t.stages[i].stage == i);
    // The activation leaves the head in one round and the token is back rounds later: a real round trip.
    CHECK(t.round_trip_ms >= 1.0);
    double others = 0;
    for (int i = 1; i < 3; ++i) others += t.stages[i].queue_ms + t.stages[i].compute_ms + t.stages[i].send_ms;
    CHECK(others <= t.round_trip_ms);
    if (k > 0) CHECK(t.position == seen.traces[k - 1].position + 1);
  }
  CHECK(ring.stage(0).stats().open_sessions == 0);
}

TEST_CASE("UntracedGenerationGetsNoStepFigures", "[stage_loop][trace]") {
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  generate_traced(ring, 6, false);
  run_until_done(ring);
  CHECK(ring.seen().tokens.size() == 6);
  CHECK(ring.seen().traces.empty());
}

TEST_CASE("TracedTokensAreTheTokensOfAnUntracedRun", "[stage_loop][trace]") {
  const auto expected = one_stage_answer(10);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  generate_traced(ring, 10, true);
  run_until_done(ring);
  CHECK(ring.seen().tokens == expected);
}

TEST_CASE("OneStageRingTracesItsOwnPhasesWithoutARoundTrip", "[stage_loop][trace]") {
  SimRing ring(1);
  ring.plan(1, {0}, {{0, 6}});
  generate_traced(ring, 4, true);
  run_until_done(ring);
  REQUIRE(ring.seen().traces.size() == 4);
  for (const auto& t : ring.seen().traces) {
    CHECK(t.round_trip_ms == 0);
    REQUIRE(t.stages.size() == 1);
    CHECK(t.stages[0].batch == 1);
  }
}

TEST_CASE("HeadForgetsTheSendTimeOfAStepWhoseTokenCameBack", "[trace]") {
  HeadStepTimes times;
  ManualClock clock;
  const TimePoint sent = clock.now();
  times.sent(7, sent, 0.5);
  clock.advance(std::chrono::milliseconds(9));
  auto trace =
      times.returned(7, 3, {proto::StageStat{0, 2, 0, 1, 1, 0.1}, proto::StageStat{1, 4, 0, 1, 1, 0}}, clock.now());
  REQUIRE(trace);
  CHECK(trace->round_trip_ms == Approx(9));
  CHECK(trace->stages[0].send_ms == 0.5);  // the head's whole send, not the part its stat carried
  CHECK(times.size() == 0);
  CHECK_FALSE(times.returned(7, 4, {}, clock.now()));
}

TEST_CASE("StampedActivationCarriesItsSendTimeInItsOwnStat", "[trace]") {
  ManualClock clock;
  const TimePoint computed = clock.now();
  clock.advance(std::chrono::microseconds(250));
  proto::ActivationMsg m;
  m.session = 1;
  m.stats = {proto::StageStat{0, 1, 0, 1, 1, 0}, proto::StageStat{1, 1, 0, 1, 1, 0}};
  m.hidden.dtype = proto::DType::kF32;
  m.hidden.shape = {1, 2};
  m.hidden.data.assign(8, '\0');
  auto frames = encode_stamped_activation(m, computed, clock);
  REQUIRE(frames.ok());
  auto decoded = proto::decode_data_message(*frames);
  REQUIRE(decoded.ok());
  const auto& got = std::get<proto::ActivationMsg>(*decoded);
  CHECK(got.stats[0].send_ms == 0);
  CHECK(got.stats[1].send_ms == Approx(0.25));
}
