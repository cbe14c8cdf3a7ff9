// Chunked prefill (docs/pipeline.md, "Chunked prefill"): a long prompt crosses the ring as several steps, stages
// apply a session's steps strictly in order, and decode steps of running sessions alternate with a prompt's chunks.
// The scheduler runs over recording fake shards; the ring is the simulated one of sim_ring.h (manual clock, no
// threads).
#include <catch2/catch.hpp>
#include <string>

#include "pipeline/hidden_codec.h"
#include "pipeline/step_order.h"
#include "sim_ring.h"

using namespace ll;
using namespace ll::pipeline;
using namespace ll::pipeline::test_ring;

namespace {

// One forward pass as the shards saw it.
struct Pass {
  std::vector<uint64_t> sessions;
  int start_pos = 0;  // of the first session's step
  int rows = 0;       // of the first session's step
};

// Shards that record every pass, in order, then compute it with `inner` (which refuses steps out of order).
class RecordingShards final : public ShardRange {
 public:
  explicit RecordingShards(std::shared_ptr<ShardRange> inner) : inner_(std::move(inner)) {}
  int first_shard() const override { return inner_->first_shard(); }
  int last_shard() const override { return inner_->last_shard(); }
  Status open_session(uint64_t id) override { return inner_->open_session(id); }
  void close_session(uint64_t id) override { inner_->close_session(id); }
  size_t open_sessions() const override { return inner_->open_sessions(); }
  Result<Tensor32> forward(uint64_t id, const StepInput& input) override {
    passes.push_back(Pass{{id}, input.start_pos, input.step_tokens()});
    return inner_->forward(id, input);
  }
  Result<std::vector<Tensor32>> forward_batch(const std::vector<uint64_t>& ids,
                                              const std::vector<StepInput>& inputs) override {
    passes.push_back(Pass{ids, inputs[0].start_pos, inputs[0].step_tokens()});
    std::vector<Tensor32> out;
    for (size_t i = 0; i < ids.size(); ++i) {
      LL_ASSIGN_OR_RETURN(Tensor32 one, inner_->forward(ids[i], inputs[i]));
      out.push_back(std::move(one));
    }
    return out;
  }
  std::vector<Pass> passes;

 private:
  std::shared_ptr<ShardRange> inner_;
};

std::shared_ptr<RecordingShards> recording(int first, int last) {
  const auto& hp = stories260k().manifest->hparams;
  const int tail = static_cast<int>(stories260k().manifest->shards.size()) - 1;
  return std::make_shared<RecordingShards>(std::make_shared<HashChainShards>(first, last, tail, hp.vocab_size, hp.dim));
}

WorkItem step(uint64_t session, int start_pos, int rows) {
  WorkItem item;
  item.session = session;
  item.input.start_pos = start_pos;
  item.input.tokens.assign(static_cast<size_t>(rows), 5);
  return item;
}

// A prompt of well over three chunks of kDefaultPrefillChunk tokens.
std::string long_prompt() {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "Once upon a time there was a little girl named Lily. ";
  return text;
}

bool contains(const std::vector<uint64_t>& v, uint64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

TEST_CASE("DecodeStepsOfRunningSessionsAlternateWithALongPromptsChunks", "[prefill][scheduler]") {
  ManualClock clock;
  StepScheduler scheduler(clock, 16, 1.0);
  auto shards = recording(0, 2);
  for (uint64_t s : {1, 2, 3}) REQUIRE(shards->open_session(s).ok());
  // Sessions 1 and 2 have their prompts in; session 3's prompt arrives as four chunks at once.
  for (uint64_t s : {1, 2}) {
    scheduler.push(step(s, 0, 4));
    while (!scheduler.empty())
      scheduler.run(
          *shards, [](uint64_t) { return true; }, [](StepOutcome&) {});
  }
  shards->passes.clear();
  for (int c = 0; c < 4; ++c) scheduler.push(step(3, c * 64, 64));
  // Each turn, the running sessions' next decode steps have arrived (as they do between a stage's turns).
  for (int turn = 0; turn < 4; ++turn) {
    scheduler.push(step(1, 4 + turn, 1));
    scheduler.push(step(2, 4 + turn, 1));
    scheduler.run(
        *shards, [](uint64_t) { return true; }, [](StepOutcome& o) { REQUIRE(o.outputs.ok()); });
  }
  REQUIRE(scheduler.empty());
  REQUIRE(shards->passes.size() == 8);
  for (int turn = 0; turn < 4; ++turn) {
    const Pass& decode = shards->passes[2 * turn];
    const Pass& chunk = shards->passes[2 * turn + 1];
    CHECK(decode.sessions == std::vector<uint64_t>{1, 2});  // one batch, before the chunk
    CHECK(chunk.sessions == std::vector<uint64_t>{3});
    CHECK(chunk.start_pos == turn * 64);
    CHECK(chunk.rows == 64);
  }
}

TEST_CASE("SessionsStepsRunInArrivalOrderEvenWhenADecodeRowFollowsALongerStep", "[prefill][scheduler]") {
  ManualClock clock;
  StepScheduler scheduler(clock, 16, 1.0);
  auto shards = recording(0, 2);
  REQUIRE(shards->open_session(7).ok());
  REQUIRE(shards->open_session(8).ok());
  // Session 7: a prompt whose last chunk is one token (a decode row), then two more chunks of session 8 queue beside.
  scheduler.push(step(8, 0, 40));
  scheduler.push(step(7, 0, 64));
  scheduler.push(step(7, 64, 1));
  scheduler.push(step(8, 40, 40));
  while (!scheduler.empty()) {
    scheduler.run(
        *shards, [](uint64_t) { return true; }, [](StepOutcome& o) { REQUIRE(o.outputs.ok()); });
  }
  std::vector<std::pair<uint64_t, int>> order;
  for (const Pass& p : shards->passes) order.emplace_back(p.sessions[0], p.start_pos);
  CHECK(order == std::vector<std::pair<uint64_t, int>>{{8, 0}, {7, 0}, {7, 64}, {8, 40}});
}

TEST_CASE("StepThatDoesNotStartWhereItsSessionStandsIsRefusedAndNothingAdvances", "[prefill][order]") {
  StepOrder order;
  CHECK(order.admit(1, 0, 64).ok());
  const Status skipped = order.admit(1, 128, 64);
  REQUIRE_FALSE(skipped.ok());
  CHECK(skipped.error().find("position 128") != std::string::npos);
  CHECK(skipped.error().find("stands at position 64") != std::string::npos);
  CHECK_FALSE(order.admit(1, 0, 64).ok());  // a repeated chunk
  CHECK(order.admit(1, 64, 64).ok());       // the refused steps moved nothing
  CHECK(order.admit(1, 128, 1).ok());
  CHECK_FALSE(order.admit(2, 5, 1).ok());  // a session's first step starts at 0
  order.forget(1);
  CHECK(order.admit(1, 0, 3).ok());
}

TEST_CASE("OutOfOrderChunkReachingAStageIsNotAppliedAndDropsTheSession", "[prefill][order]") {
  SimRing ring(2);
  auto tail = recording(4, static_cast<int>(stories260k().manifest->shards.size()) - 1);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}}, {nullptr, tail});
  net::InprocTransport peer(ring.hub(), "device-x",
                            net::Sender{"key-x", "x", static_cast<net::Roles>(net::Role::kDevice)});
  auto send = [&](int64_t start_pos, int64_t rows) {
    proto::ActivationMsg m;
    m.session = 55;
    m.plan_version = 1;
    m.start_pos = start_pos;
    m.sample = false;
    Tensor32 hidden;
    hidden.shape = {rows, stories260k().manifest->hparams.dim};
    hidden.values.assign(static_cast<size_t>(rows * hidden.shape[1]), 1.f);
    m.hidden = hidden_to_frame(hidden, proto::DType::kF32);
    auto frames = proto::encode_data_message(m);
    REQUIRE(frames.ok());
    REQUIRE(peer.send(ring.endpoint(1), std::move(frames).value()).ok());
  };
  send(0, 64);
  ring.settle();
  send(128, 64);  // the chunk at 64 never came
  send(64, 64);   // late: the session is gone by then
  ring.settle();
  REQUIRE(tail->passes.size() == 1);
  CHECK(tail->passes[0].start_pos == 0);
  CHECK(ring.open_sessions(1) == 0);
}

TEST_CASE("LongPromptCrossesTheRingInChunksAndSaysWhatOneStageSays", "[prefill][stage_loop]") {
  const auto& m = stories260k();
  const int prompt_tokens = static_cast<int>(m.tokenizer->encode(long_prompt(), true).size());
  REQUIRE(prompt_tokens > 3 * kDefaultPrefillChunk);
  SimRing one(1);
  one.plan(1, {0}, {{0, 6}});
  one.generate(long_prompt(), 20);
  one.settle();
  REQUIRE(one.seen().tokens.size() == 20);

  SimRing ring(3);
  auto middle = recording(3, 4);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}}, {nullptr, middle});
  ring.generate(long_prompt(), 20);
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == one.seen().tokens);
  // The prompt came as its chunks, in order, then one-token decode steps.
  const auto chunks = prefill_chunks(prompt_tokens, kDefaultPrefillChunk);
  REQUIRE(middle->passes.size() == chunks.size() + 19);
  for (size_t i = 0; i < chunks.size(); ++i) {
    CHECK(middle->passes[i].start_pos == chunks[i].begin);
    CHECK(middle->passes[i].rows == chunks[i].end - chunks[i].begin);
  }
}

TEST_CASE("ShortSessionKeepsDecodingWhileALongPromptsChunksPass", "[prefill][stage_loop]") {
  const auto expected = one_stage_answer(60);
  SimRing ring(3, /*idle_timeout_s=*/120, /*max_sessions=*/2);
  auto middle = recording(3, 4);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}}, {nullptr, middle});
  ring.generate(kPrompt, 60);
  ring.settle([&] { return ring.seen().tokens.size() >= 5; });
  const int second = ring.add_client("client2");
  ring.generate(long_prompt(), 10, second);
  ring.settle();
  REQUIRE(ring.seen().done);
  REQUIRE(ring.seen(second).done);
  CHECK(ring.seen().tokens == expected);
  const uint64_t short_session = ring.seen().session;
  const uint64_t long_session = ring.seen(second).session;
  // At the middle stage: the long prompt's first and last chunks, and the short session's decode steps between.
  size_t first_chunk = middle->passes.size(), last_chunk = 0, decodes_between = 0;
  for (size_t i = 0; i < middle->passes.size(); ++i) {
    const Pass& p = middle->passes[i];
    if (p.sessions == std::vector<uint64_t>{long_session} && p.rows > 1) {
      first_chunk = std::min(first_chunk, i);
      last_chunk = i;
    }
  }
  REQUIRE(first_chunk < last_chunk);
  for (size_t i = first_chunk; i < last_chunk; ++i)
    decodes_between += contains(middle->passes[i].sessions, short_session);
  CHECK(decodes_between >= 2);
}

TEST_CASE("ReplayOfALongPromptSendsItInTheChunksOfItsFirstRun", "[prefill][stage_loop][replan]") {
  const auto& m = stories260k();
  const int prompt_tokens = static_cast<int>(m.tokenizer->encode(long_prompt(), true).size());
  SimRing one(1);
  one.plan(1, {0}, {{0, 6}});
  one.generate(long_prompt(), 40);
  one.settle();
  REQUIRE(one.seen().tokens.size() == 40);

  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(long_prompt(), 40);
  ring.settle([&] { return ring.seen().tokens.size() >= 10; });
  auto middle = recording(2, 4);
  ring.plan(2, {0, 1, 2}, {{0, 1}, {2, 4}, {5, 6}}, {nullptr, middle});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == one.seen().tokens);
  // The new middle stage rebuilt the session from the prompt's chunks; the last one carried the generated rows.
  const auto chunks = prefill_chunks(prompt_tokens, kDefaultPrefillChunk);
  REQUIRE(middle->passes.size() > chunks.size());
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    CHECK(middle->passes[i].start_pos == chunks[i].begin);
    CHECK(middle->passes[i].rows == chunks[i].end - chunks[i].begin);
  }
  CHECK(middle->passes[chunks.size() - 1].start_pos == chunks.back().begin);
  CHECK(middle->passes[chunks.size() - 1].rows > chunks.back().end - chunks.back().begin);
}
