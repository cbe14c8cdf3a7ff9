// The per-step trace fields of the data plane (docs/protocol.md, "Per-step traces"): a generate's `trace` flag, a
// stage's `send_ms` and a streamed token's `trace` round-trip; a peer of before the fields still reads the rest;
// malformed figures are refused before a client lays them out.
#include <catch2/catch.hpp>

#include "proto/data_messages.h"
#include "proto/limits.h"

using namespace ll::proto;

namespace {

template <typename T>
T round_trip(const DataMessage& message) {
  auto frames = encode_data_message(message);
  REQUIRE(frames.ok());
  auto decoded = decode_data_message(*frames);
  REQUIRE(decoded.ok());
  REQUIRE(std::holds_alternative<T>(*decoded));
  return std::get<T>(*decoded);
}

Json tokens_with_trace(const Json& trace) {
  return Json{{"v", kProtocolVersion}, {"type", "tokens"}, {"session", 5},
              {"tokens", {42}},        {"text", "x"},      {"trace", trace}};
}

std::string refusal(const Json& control) {
  auto decoded = decode_data_message({control.dump()});
  return decoded.ok() ? "accepted" : decoded.error();
}

Json good_trace() {
  return Json{{"position", 7},
              {"round_trip_ms", 12.5},
              {"stats",
               {{{"stage", 0}, {"compute_ms", 3.0}, {"queue_ms", 0.1}, {"batch", 1}, {"send_ms", 0.2}},
                {{"stage", 1}, {"compute_ms", 4.0}, {"queue_ms", 0.3}, {"batch", 2}}}}};
}

}  // namespace

TEST_CASE("TraceFlagOfAGenerateRoundTripsAndIsAbsentByDefault", "[data][trace]") {
  GenerateMsg plain;
  plain.prompt = "hi";
  auto frames = encode_data_message(plain);
  REQUIRE(frames.ok());
  CHECK((*frames)[0].find("trace") == std::string::npos);  // an older head sees the request it always saw
  CHECK_FALSE(round_trip<GenerateMsg>(plain).trace);
  GenerateMsg traced = plain;
  traced.trace = true;
  CHECK(round_trip<GenerateMsg>(traced).trace);
}

TEST_CASE("TraceFlagThatIsNotABooleanIsRefused", "[data][trace]") {
  Json j{{"v", kProtocolVersion},
         {"type", "generate"},
         {"prompt", "hi"},
         {"max_tokens", 4},
         {"sampling", {{"temperature", 0}, {"top_k", 0}, {"top_p", 1}, {"seed", 0}}},
         {"trace", 1}};
  CHECK(refusal(j).find("trace") != std::string::npos);
}

TEST_CASE("StepTraceOfATokensMessageRoundTripsWithEveryStagesSendTime", "[data][trace]") {
  TokensMsg m;
  m.session = 9;
  m.tokens = {42};
  m.text = "x";
  m.trace = StepTrace{17, 21.5, {StageStat{0, 3, 0.5, 1, 1, 0.25}, StageStat{1, 4, 0.75, 2, 1, 0.125}}};
  TokensMsg got = round_trip<TokensMsg>(m);
  REQUIRE(got.trace);
  CHECK(got.trace->position == 17);
  CHECK(got.trace->round_trip_ms == 21.5);
  REQUIRE(got.trace->stages.size() == 2);
  CHECK(got.trace->stages[0].send_ms == 0.25);
  CHECK(got.trace->stages[1].batch == 2);
  CHECK(got.trace->stages[1].send_ms == 0.125);
  m.trace.reset();
  CHECK_FALSE(round_trip<TokensMsg>(m).trace);
}

TEST_CASE("SendTimeOfAnActivationRoundTripsAndAStatWithoutItReadsAsZero", "[data][trace]") {
  TokenMsg m;
  m.session = 3;
  m.position = 4;
  m.token = 5;
  m.stats = {StageStat{0, 1, 2, 1, 1, 0.5}, StageStat{1, 1, 2, 1, 1, 0}};
  auto frames = encode_data_message(m);
  REQUIRE(frames.ok());
  // A stat without a send time carries no field, so an older peer reads exactly what it always read.
  CHECK(Json::parse((*frames)[0])["stats"][1].count("send_ms") == 0);
  TokenMsg got = round_trip<TokenMsg>(m);
  CHECK(got.stats[0].send_ms == 0.5);
  CHECK(got.stats[1].send_ms == 0);
}

TEST_CASE("MalformedStepTracesAreRefusedNamingTheField", "[data][trace]") {
  CHECK(refusal(tokens_with_trace(good_trace())) == "accepted");
  Json t = good_trace();
  t["round_trip_ms"] = -1;
  CHECK(refusal(tokens_with_trace(t)).find("round_trip_ms") != std::string::npos);
  t = good_trace();
  t["stats"][0]["send_ms"] = -0.5;
  CHECK(refusal(tokens_with_trace(t)).find("send_ms") != std::string::npos);
  t = good_trace();
  t["stats"][1]["compute_ms"] = -2;
  CHECK(refusal(tokens_with_trace(t)).find("negative") != std::string::npos);
  t = good_trace();
  t["stats"][1]["batch"] = 0;
  CHECK(refusal(tokens_with_trace(t)).find("batch") != std::string::npos);
  t = good_trace();
  t["stats"][1]["stage"] = -1;
  CHECK(refusal(tokens_with_trace(t)).find("stage") != std::string::npos);
  t = good_trace();
  t.erase("position");
  CHECK(refusal(tokens_with_trace(t)).find("position") != std::string::npos);
  CHECK(refusal(tokens_with_trace(Json::array())).find("trace") != std::string::npos);
}

TEST_CASE("StepTraceWithMoreStagesThanKMaxStageStatsIsRefused", "[data][trace]") {
  Json t = good_trace();
  Json stats = Json::array();
  for (size_t i = 0; i <= kMaxStageStats; ++i) {
    stats.push_back({{"stage", 0}, {"compute_ms", 1}, {"queue_ms", 0}, {"batch", 1}});
  }
  t["stats"] = stats;
  CHECK(refusal(tokens_with_trace(t)).find("stats") != std::string::npos);
  stats.erase(stats.begin());
  t["stats"] = stats;
  CHECK(refusal(tokens_with_trace(t)) == "accepted");
}

TEST_CASE("ControlFrameAloneIsTheFirstFrameOfTheWholeMessage", "[data][trace]") {
  ActivationMsg m;
  m.session = 1;
  m.stats = {StageStat{0, 1, 2, 1, 1, 0.5}};
  m.hidden.dtype = DType::kF32;
  m.hidden.shape = {1, 2};
  m.hidden.data.assign(8, '\0');
  auto whole = encode_data_message(m);
  auto control = encode_data_control_frame(m);
  REQUIRE(whole.ok());
  REQUIRE(control.ok());
  CHECK(whole->size() == 2);
  CHECK(*control == (*whole)[0]);
}
