// Regression test for what scripts/fuzz found in the tokenizer.json reader: normalizer / pre_tokenizer Sequences
// nested deep enough to overflow the stack are refused with an error.
#include <catch2/catch.hpp>

#include <string>

#include "model/tokenizer.h"

namespace {

std::string with_normalizer(const std::string& normalizer, const std::string& pre_tokenizer) {
  return R"({"added_tokens":[{"id":0,"content":"<unk>"},{"id":1,"content":"<s>"},{"id":2,"content":"</s>"}],)"
         R"("normalizer":)" +
         normalizer + R"(,"pre_tokenizer":)" + pre_tokenizer +
         R"(,"model":{"type":"BPE","vocab":{"<unk>":0,"<s>":1,"</s>":2,"a":3},"merges":[]}})";
}

std::string nested(const std::string& list_key, const std::string& leaf, int depth) {
  std::string open, close;
  for (int i = 0; i < depth; ++i) {
    open += R"({"type":"Sequence",")" + list_key + R"(":[)";
    close += "]}";
  }
  return open + leaf + close;
}

const std::string kReplace = R"({"type":"Replace","pattern":{"String":" "},"content":"\u2581"})";
const std::string kMetaspace = R"({"type":"Metaspace","replacement":"\u2581"})";

}  // namespace

TEST_CASE("DeeplyNestedNormalizerSequenceIsRejectedWithoutStackOverflow", "[tokenizer][hf][fuzz]") {
  auto t = ll::Tokenizer::parse_hf(with_normalizer(nested("normalizers", kReplace, 200'000), "null"));
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().find("nest too deeply") != std::string::npos);
  auto p = ll::Tokenizer::parse_hf(with_normalizer("null", nested("pretokenizers", kMetaspace, 200'000)));
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().find("nest too deeply") != std::string::npos);
}

TEST_CASE("ShallowSequencesStillLoad", "[tokenizer][hf][fuzz]") {
  CHECK(ll::Tokenizer::parse_hf(with_normalizer(nested("normalizers", kReplace, 3), "null")).ok());
  CHECK(ll::Tokenizer::parse_hf(with_normalizer("null", nested("pretokenizers", kMetaspace, 3))).ok());
}
