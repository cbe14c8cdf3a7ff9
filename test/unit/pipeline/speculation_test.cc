// Speculative decoding through the ring (docs/pipeline.md, "Speculative decoding"), deterministically on the
// simulated ring (sim_ring.h): the fake's every logit hashes the whole KV history, so a rejected drafted row left in
// a cache, or a row rolled back too far, changes every later token. A scripted drafter proposes the known answer
// with a wrong token in every third draft, so steps accept all, part or none of their drafts.
#include <catch2/catch.hpp>
#include <set>

#include "pipeline/head_speculation.h"
#include "pipeline/step_order.h"
#include "sim_ring.h"

using namespace ll;
using namespace ll::pipeline;
using namespace ll::pipeline::test_ring;

namespace {

class ScriptedDrafter final : public Drafter {
 public:
  explicit ScriptedDrafter(std::vector<int32_t> text) : text_(std::move(text)) {}
  Result<std::vector<int32_t>> draft(uint64_t session, const std::vector<int32_t>& context, int k) override {
    (void)session;
    std::vector<int32_t> out;
    for (size_t i = context.size(); i < text_.size() && static_cast<int>(out.size()) < k; ++i) out.push_back(text_[i]);
    if (++calls_ % 3 == 0 && !out.empty()) {
      int32_t& wrong = out[out.size() / 2];
      wrong = wrong == 5 ? 6 : 5;
    }
    return out;
  }
  void forget(uint64_t session) override { forgotten.insert(session); }
  std::string name() const override { return "draft:scripted"; }
  std::set<uint64_t> forgotten;

 private:
  std::vector<int32_t> text_;
  int calls_ = 0;
};

std::shared_ptr<ScriptedDrafter> scripted(const std::vector<int32_t>& answer) {
  std::vector<int32_t> text = stories260k().tokenizer->encode(kPrompt, /*add_bos=*/true);
  text.insert(text.end(), answer.begin(), answer.end());
  return std::make_shared<ScriptedDrafter>(text);
}

}  // namespace

TEST_CASE("DraftedStepsThroughThreeStagesGiveTheTokensOfDecodingOneByOne", "[stage_loop][speculation]") {
  const auto expected = one_stage_answer(60);
  auto drafter = scripted(expected);
  SimRing ring(3, 120, 1, drafter);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 60, 0, "draft:scripted", 6);
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  const proto::DoneMsg& done = *ring.seen().done;
  CHECK(done.speculate == "draft:scripted");
  CHECK(done.accepted > 0);
  CHECK(done.drafted > done.accepted);    // some drafts were rolled back
  CHECK(done.decode_steps < 60);          // fewer trips than tokens
  CHECK(drafter->forgotten.size() == 1);  // the drafter let go of the session
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("DraftedStepsOnOneStageGiveTheTokensOfDecodingOneByOne", "[stage_loop][speculation]") {
  const auto expected = one_stage_answer(40);
  SimRing ring(1, 120, 1, scripted(expected));
  ring.plan(1, {0}, {{0, 6}});
  ring.generate(kPrompt, 40, 0, "draft:scripted", 4);
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.seen().done->accepted > 0);
}

TEST_CASE("ARePlanWithADraftInFlightReplaysAndStaysExact", "[stage_loop][speculation][replan]") {
  const auto expected = one_stage_answer(50);
  SimRing ring(3, 120, 1, scripted(expected));
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 50, 0, "draft:scripted", 6);
  ring.settle([&] { return ring.seen().tokens.size() >= 12; });
  ring.hub().hold(ring.endpoint(0), ring.endpoint(1));  // a drafted step of plan 1 stays on its way to stage 1
  ring.settle();
  ring.plan(2, {0, 1, 2}, {{0, 1}, {2, 5}, {6, 6}});
  for (int i : {2, 1, 0}) ring.stage(i).turn(Duration(0));
  ring.hub().release(ring.endpoint(0), ring.endpoint(1));
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.stage(0).stats().replayed_sessions == 1);
}

TEST_CASE("AStageLostWhileSpeculatingIsReplacedAndTheGenerationStaysExact", "[stage_loop][speculation][failover]") {
  const auto expected = one_stage_answer(60);
  SimRing ring(3, 120, 1, scripted(expected));
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 60, 0, "draft:scripted", 6);
  ring.settle([&] { return ring.seen().tokens.size() >= 20; });
  ring.hub().kill_process(ring.endpoint(1));
  ring.settle();
  CHECK_FALSE(ring.seen().done);
  ring.plan(2, {0, 2}, {{0, 3}, {4, 6}});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
}

TEST_CASE("ANewPlansFirstStepsCarryNoDraftSoTheLeaderCanCalibrate", "[stage_loop][speculation]") {
  const auto expected = one_stage_answer(40);
  SimRing ring(3, 120, 1, scripted(expected), /*undrafted_steps_per_plan=*/10);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 40, 0, "draft:scripted", 6);
  ring.settle([&] { return ring.seen().tokens.size() >= 11; });
  CHECK(ring.seen().tokens.size() == 11);  // the prefill's token and 10 one-token steps: one token per trip
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.seen().done->accepted > 0);  // then it drafts
  CHECK(ring.seen().done->decode_steps < 40);
}

TEST_CASE("ADraftModelTheHeadDoesNotHaveIsRefused", "[stage_loop][speculation]") {
  SimRing ring(1);
  ring.plan(1, {0}, {{0, 6}});
  ring.generate(kPrompt, 10, 0, "draft:missing");
  ring.settle();
  REQUIRE(ring.seen().error);
  CHECK(ring.seen().error->code == "bad_request");
  CHECK(ring.seen().error->message.find("missing") != std::string::npos);
  CHECK(ring.open_sessions(0) == 0);
}

TEST_CASE("AStepRollingBackFurtherThanThePreviousStepsDraftIsRefused", "[speculation][order]") {
  StepOrder order;
  REQUIRE(order.admit(1, 0, 8).ok());
  REQUIRE(order.admit(1, 8, 5, 4).ok());  // the token at 8 and a draft of 4: the session stands at 9..13
  CHECK_FALSE(order.admit(1, 8, 1).ok());
  const Status too_far = order.admit(1, 7, 1);
  REQUIRE_FALSE(too_far.ok());
  CHECK(too_far.error().find("9..13") != std::string::npos);
  CHECK(order.admit(1, 10, 1).ok());        // two drafted tokens stood
  CHECK_FALSE(order.admit(1, 10, 1).ok());  // no draft in that step: no rollback after it
  CHECK(order.admit(1, 11, 3, 2).ok());
  CHECK(order.admit(1, 14, 1).ok());           // the whole draft stood
  CHECK_FALSE(order.admit(1, 15, 2, 2).ok());  // a draft must leave the step its first row
}

TEST_CASE("AVerdictThatDoesNotFitTheDraftInFlightIsAnError", "[speculation]") {
  SessionSpeculation speculation;
  speculation.in_flight = {7, 8, 9};
  speculation.in_flight_position = 20;
  CHECK_FALSE(take_verdict(speculation, 4, 1, 24).ok());  // more accepted than drafted
  // A tail that does not verify drafts answers with the token after the whole draft and no count.
  CHECK_FALSE(take_verdict(speculation, 0, 1, 23).ok());
  auto tokens = take_verdict(speculation, 2, 11, 22);
  REQUIRE(tokens.ok());
  CHECK(*tokens == std::vector<int32_t>{7, 8, 11});
  CHECK(speculation.drafted == 3);
  CHECK(speculation.accepted == 2);
  CHECK(speculation.in_flight.empty());
}

TEST_CASE("ADraftNeverRunsPastTheRoomItIsGiven", "[speculation]") {
  auto drafter = std::make_shared<ScriptedDrafter>(std::vector<int32_t>(100, 42));
  SessionSpeculation speculation;
  speculation.drafter = drafter.get();
  speculation.length = DraftLength(8);
  WorkItem step;
  step.session = 1;
  step.input.start_pos = 10;
  step.input.tokens = {42};
  add_draft(step, speculation, std::vector<int32_t>(11, 42), 2, 512);
  CHECK(step.draft.size() == 2);
  CHECK(step.input.tokens.size() == 3);
  CHECK(step.input.decode_rows == 3);
  CHECK(step.input.logit_rows == 3);
  CHECK(speculation.in_flight_position == 11);
  WorkItem none;
  none.input.tokens = {42};
  add_draft(none, speculation, std::vector<int32_t>(11, 42), 0, 512);
  CHECK(none.draft.empty());
  CHECK(none.input.logit_rows == 1);
  // A drafter of another vocabulary: the draft is cut at its first token the target does not have.
  auto wide = std::make_shared<ScriptedDrafter>(std::vector<int32_t>{1, 2, 3, 4, 40, 700, 5, 6, 7});
  speculation.drafter = wide.get();
  WorkItem cut;
  cut.input.start_pos = 3;
  cut.input.tokens = {4};
  add_draft(cut, speculation, {1, 2, 3, 4}, 8, 512);
  CHECK(cut.draft == std::vector<int32_t>{40});
  CHECK(none.draft.empty());
  CHECK(none.input.logit_rows == 1);
}
