// Admission and session ownership on the data plane (docs/security.md, "Sessions and admission"), on a simulated
// ring (sim_ring.h): the plan's max_sessions bounds the generations a head admits and the caches every stage opens;
// only device keys move hidden states, tokens and session ends; only the key that opened a session can cancel it.
#include <catch2/catch.hpp>

#include "pipeline/hidden_codec.h"
#include "sim_ring.h"

using namespace ll;
using namespace ll::pipeline;
using namespace ll::pipeline::test_ring;

namespace {

net::Sender client_key(const std::string& name) {
  return net::Sender{"key-of-" + name, name, static_cast<net::Roles>(net::Role::kClient)};
}

net::Sender device_key(const std::string& name) {
  return net::Sender{"key-of-" + name, name, static_cast<net::Roles>(net::Role::kDevice)};
}

// A one-row prefill activation of `session` for plan 1, as a stage would send it.
proto::ActivationMsg activation(uint64_t session, int64_t start_pos) {
  proto::ActivationMsg m;
  m.session = session;
  m.plan_version = 1;
  m.start_pos = start_pos;
  Tensor32 hidden;
  hidden.shape = {1, stories260k().manifest->hparams.dim};
  hidden.values.assign(static_cast<size_t>(hidden.shape[1]), 1.f);
  m.hidden = hidden_to_frame(hidden, proto::DType::kF32);
  return m;
}

// Shards that count the caches ever opened (a step that fails closes its cache again: the count remembers).
class CountingShards final : public ShardRange {
 public:
  explicit CountingShards(std::shared_ptr<ShardRange> inner) : inner_(std::move(inner)) {}
  int first_shard() const override { return inner_->first_shard(); }
  int last_shard() const override { return inner_->last_shard(); }
  Status open_session(uint64_t id) override {
    ++opened;
    return inner_->open_session(id);
  }
  void close_session(uint64_t id) override { inner_->close_session(id); }
  size_t open_sessions() const override { return inner_->open_sessions(); }
  Result<Tensor32> forward(uint64_t id, const StepInput& input) override { return inner_->forward(id, input); }
  int opened = 0;

 private:
  std::shared_ptr<ShardRange> inner_;
};

}  // namespace

TEST_CASE("GenerationsBeyondThePlansSessionsAreBusyAndTheAdmittedOnesFinishExactly", "[admission]") {
  const auto expected = one_stage_answer(20);
  SimRing ring(3, /*idle_timeout_s=*/120, /*max_sessions=*/2);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  const int b = ring.add_client("b");
  const int c = ring.add_client("c");
  ring.generate(kPrompt, 20, 0);
  ring.generate(kPrompt, 20, b);
  ring.generate(kPrompt, 20, c);
  ring.settle();
  REQUIRE(ring.seen(c).error);
  CHECK(ring.seen(c).error->code == "busy");
  CHECK(ring.seen(c).error->message.find("2 generations") != std::string::npos);
  CHECK(ring.seen(c).tokens.empty());
  for (int client : {0, b}) {
    REQUIRE(ring.seen(client).done);
    CHECK(ring.seen(client).tokens == expected);
  }
  // Once they are done there is room again.
  ring.generate(kPrompt, 20, c);
  ring.settle();
  REQUIRE(ring.seen(c).done);
  CHECK(ring.seen(c).tokens == expected);
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("StageOpensNoMoreCachesThanThePlanReserved", "[admission]") {
  SimRing ring(2, /*idle_timeout_s=*/120, /*max_sessions=*/2);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  net::InprocTransport peer(ring.hub(), "rogue-device", device_key("rogue"));
  for (uint64_t session : {101, 102, 103}) {
    auto frames = proto::encode_data_message(activation(session, 0));
    REQUIRE(frames.ok());
    REQUIRE(peer.send(ring.endpoint(1), std::move(frames).value()).ok());
  }
  ring.settle();
  CHECK(ring.open_sessions(1) == 2);
}

TEST_CASE("PrefillOvertakingTheEndOfThePreviousSessionWaitsForItsCache", "[admission]") {
  // One session at a time: the head ends the first and admits the second; the first's session_end to the tail is
  // slower than the second's prefill through stage 1. The tail must not refuse the second for lack of a cache.
  const auto expected = one_stage_answer(20);
  SimRing ring(3, /*idle_timeout_s=*/120, /*max_sessions=*/1);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 20);
  ring.settle([&] { return ring.seen().tokens.size() >= 19; });
  ring.hub().hold(ring.endpoint(0), ring.endpoint(2));  // the head's session_end for the tail waits
  ring.settle();
  REQUIRE(ring.seen().done);
  const int b = ring.add_client("b");
  ring.generate(kPrompt, 20, b);
  ring.settle();
  CHECK_FALSE(ring.seen(b).error);
  CHECK(ring.open_sessions(2) == 1);  // still the first session's cache; the second's prefill waits
  ring.hub().release(ring.endpoint(0), ring.endpoint(2));
  ring.settle();
  REQUIRE(ring.seen(b).done);
  CHECK(ring.seen(b).tokens == expected);
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("ResumedGenerationOvertakingTheEndOfThePreviousSessionWaitsWithAllItsSteps", "[admission]") {
  // A resumed generation's first steps go out at once (prompt and 100 tokens: two replay steps). At a tail still
  // holding the previous session, the second step must wait behind the first, not be dropped as "not open here".
  const auto expected = one_stage_answer(150);
  SimRing ring(3, /*idle_timeout_s=*/120, /*max_sessions=*/1);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 5);
  ring.settle([&] { return ring.seen().tokens.size() >= 4; });
  ring.hub().hold(ring.endpoint(0), ring.endpoint(2));  // the first session's end reaches the tail late
  ring.settle();
  REQUIRE(ring.seen().done);
  proto::GenerateMsg resumed;
  resumed.prompt = kPrompt;
  resumed.max_tokens = 150;
  resumed.ignore_eos = true;
  resumed.resume_tokens.assign(expected.begin(), expected.begin() + 100);
  const int b = ring.add_client("b");
  ring.send_from_client(0, resumed, b);
  ring.settle();
  ring.hub().release(ring.endpoint(0), ring.endpoint(2));
  ring.settle();
  REQUIRE(ring.seen(b).done);
  CHECK(ring.seen(b).tokens == std::vector<int32_t>(expected.begin() + 100, expected.end()));
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("FloodOfStepsForOneSessionIsBoundedByThePlan", "[admission]") {
  // One session of stories260K (context 512) has at most 512 / kMinPrefillChunk + 2 = 18 steps waiting at a stage
  // (its prompt's chunks, at least 32 tokens each, or a replay's steps, plus one).
  SimRing ring(2, /*idle_timeout_s=*/120, /*max_sessions=*/1);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  net::InprocTransport peer(ring.hub(), "rogue-device", device_key("rogue"));
  for (int64_t position = 0; position <= 100; ++position) {
    auto frames = proto::encode_data_message(activation(55, position));
    REQUIRE(frames.ok());
    REQUIRE(peer.send(ring.endpoint(1), std::move(frames).value()).ok());
  }
  ring.stage(1).turn(Duration(0));  // takes in all 101 (up to 256 a turn), then computes what it queued
  CHECK(ring.stage(1).stats().queue_depth <= 512 / kMinPrefillChunk + 2);
  ring.settle();
  CHECK(ring.open_sessions(1) == 0);  // the flooded session was dropped
}

TEST_CASE("ActivationOfASessionNotOpenHereAndPastThePrefillOpensNoCache", "[admission]") {
  SimRing ring(2);
  const int last = static_cast<int>(stories260k().manifest->shards.size()) - 1;
  const auto& hp = stories260k().manifest->hparams;
  auto tail = std::make_shared<CountingShards>(std::make_shared<HashChainShards>(4, last, last, hp.vocab_size, hp.dim));
  ring.plan(1, {0, 1}, {{0, 3}, {4, last}}, {nullptr, tail});
  net::InprocTransport peer(ring.hub(), "rogue-device", device_key("rogue"));
  auto frames = proto::encode_data_message(activation(77, 5));
  REQUIRE(frames.ok());
  REQUIRE(peer.send(ring.endpoint(1), std::move(frames).value()).ok());
  ring.settle();
  CHECK(tail->opened == 0);
  CHECK(ring.open_sessions(1) == 0);
}

TEST_CASE("ClientKeyCannotInjectActivationsTokensOrSessionEndsIntoAGeneration", "[admission][roles]") {
  const auto expected = one_stage_answer(30);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 30);
  ring.settle([&] { return ring.seen().tokens.size() >= 5; });
  const uint64_t victim = ring.seen().session;
  const int mallory = ring.add_client("mallory", client_key("mallory"));
  ring.send_from_client(1, activation(victim, 0), mallory);  // would reset the victim's cache on stage 1
  proto::TokenMsg token;
  token.session = victim;
  token.plan_version = 1;
  token.position = static_cast<int64_t>(ring.seen().tokens.size()) + 5;
  token.token = 7;
  ring.send_from_client(0, token, mallory);
  ring.send_from_client(2, proto::SessionEndMsg{victim}, mallory);
  ring.settle();
  REQUIRE(ring.seen(mallory).error);
  CHECK(ring.seen(mallory).error->code == "forbidden");
  CHECK(ring.seen(mallory).error->message.find("device role") != std::string::npos);
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "max_tokens");
  CHECK(ring.seen().tokens == expected);
}

TEST_CASE("CancelFromAnotherKeyOnTheSameRouteDoesNotEndTheSession", "[admission][roles]") {
  const auto expected = one_stage_answer(30);
  SimRing ring(2);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  const int alice = ring.add_client("alice", client_key("alice"));
  ring.generate(kPrompt, 30, alice);
  ring.settle([&] { return ring.seen(alice).tokens.size() >= 5; });
  // Alice's connection is gone and Mallory's took its routing id (a ZeroMQ peer chooses its own).
  ring.replace_client(alice, client_key("mallory"));
  ring.send_from_client(0, proto::CancelMsg{ring.seen(alice).session}, alice);
  ring.settle();
  REQUIRE(ring.seen(alice).done);
  CHECK(ring.seen(alice).done->stop_reason == "max_tokens");
  CHECK(ring.seen(alice).tokens == expected);
}

TEST_CASE("SessionIdsDoNotFollowFromTheClock", "[admission]") {
  // Two heads started at the same instant once numbered their sessions alike: ids were the clock, shifted.
  SimRing one(1);
  SimRing two(1);
  one.plan(1, {0}, {{0, 6}});
  two.plan(1, {0}, {{0, 6}});
  one.generate(kPrompt, 1);
  two.generate(kPrompt, 1);
  one.settle();
  two.settle();
  REQUIRE(one.seen().session != 0);
  CHECK(one.seen().session != two.seen().session);
}
