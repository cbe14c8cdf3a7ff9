// The speculative-decoding fields of the data plane (docs/protocol.md, "Speculative decoding"): they survive the
// codec, are absent when unused (a message without them reads as before), and a draft or verdict that cannot be
// right is refused before anything is allocated from it.
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

ActivationMsg drafted_step(int rows, std::vector<int64_t> draft) {
  ActivationMsg m;
  m.session = 3;
  m.plan_version = 2;
  m.start_pos = 40;
  m.decode_rows = rows;
  m.draft = std::move(draft);
  m.hidden.dtype = DType::kF32;
  m.hidden.shape = {rows, 2};
  m.hidden.data.assign(static_cast<size_t>(rows) * 8, '\0');
  return m;
}

std::string refusal(const DataMessage& message) {
  auto frames = encode_data_message(message);
  REQUIRE(frames.ok());
  auto decoded = decode_data_message(*frames);
  return decoded.ok() ? "accepted" : decoded.error();
}

}  // namespace

TEST_CASE("SpeculationFieldsSurviveTheCodec", "[data][speculation]") {
  GenerateMsg g;
  g.prompt = "x";
  g.speculate = "draft:tiny";
  g.draft_tokens = 5;
  const auto g2 = round_trip<GenerateMsg>(g);
  CHECK(g2.speculate == "draft:tiny");
  CHECK(g2.draft_tokens == 5);
  const auto plain = round_trip<GenerateMsg>(GenerateMsg{});
  CHECK(plain.speculate.empty());  // absent: the head's default
  CHECK(plain.draft_tokens == -1);

  const auto a = round_trip<ActivationMsg>(drafted_step(4, {7, 8, 9}));
  CHECK(a.draft == std::vector<int64_t>{7, 8, 9});

  TokenMsg t{3, 2, 43, 11, {}};
  t.accepted = 2;
  CHECK(round_trip<TokenMsg>(t).accepted == 2);
  CHECK(round_trip<TokenMsg>(TokenMsg{3, 2, 43, 11, {}}).accepted == 0);

  DoneMsg d;
  d.speculate = "ngram";
  d.drafted = 30;
  d.accepted = 12;
  d.decode_steps = 40;
  const auto d2 = round_trip<DoneMsg>(d);
  CHECK(d2.speculate == "ngram");
  CHECK(d2.drafted == 30);
  CHECK(d2.accepted == 12);
  CHECK(d2.decode_steps == 40);
}

TEST_CASE("ADraftThatIsNotTheStepsRowsButItsFirstIsRefused", "[data][speculation]") {
  CHECK(refusal(drafted_step(4, {7, 8})).find("draft") != std::string::npos);  // rows != draft + 1
  ActivationMsg prefill = drafted_step(4, {7, 8, 9});
  prefill.decode_rows = 0;  // a draft verified as a prefill would not be the decode rows' numbers
  CHECK(refusal(prefill).find("draft") != std::string::npos);
  ActivationMsg unsampled = drafted_step(4, {7, 8, 9});
  unsampled.sample = false;
  CHECK(refusal(unsampled).find("draft") != std::string::npos);
  CHECK(refusal(drafted_step(4, {7, -8, 9})).find("draft") != std::string::npos);
  const int too_many = static_cast<int>(kMaxDraftTokens) + 1;
  CHECK(refusal(drafted_step(too_many + 1, std::vector<int64_t>(too_many, 5))).find("draft") != std::string::npos);
  CHECK(refusal(drafted_step(4, {7, 8, 9})) == "accepted");
}

TEST_CASE("AVerdictAcceptingMoreThanADraftCanHoldIsRefused", "[data][speculation]") {
  TokenMsg t{3, 2, 43, 11, {}};
  t.accepted = kMaxDraftTokens + 1;
  CHECK(refusal(t).find("accepted") != std::string::npos);
  TokenMsg early{3, 2, 1, 11, {}};
  early.accepted = 2;  // drafted tokens before position 0
  CHECK(refusal(early).find("accepted") != std::string::npos);
  GenerateMsg g;
  g.draft_tokens = kMaxDraftTokens + 1;
  CHECK(refusal(g).find("draft_tokens") != std::string::npos);
  DoneMsg d;
  d.speculate = "ngram";
  d.drafted = 3;
  d.accepted = 4;
  CHECK(refusal(d).find("accepted") != std::string::npos);
}
