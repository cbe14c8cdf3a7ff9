// Tests of the Hugging Face tokenizer.json reader on a tiny hand-made Llama-style file (data/tiny_llama_tokenizer.json:
// "▁hello" and "▁world" built by ten merges, byte fallback for <0x0A> <0xC3> <0xA9> only, fuse_unk). Single-threaded.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "unit/model/tokenizer_test_util.h"

using ll::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

std::string tiny_json_path() { return ll::test::source_file("test/unit/model/data/tiny_llama_tokenizer.json"); }

std::string tiny_json_text() {
  std::ifstream in(tiny_json_path(), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Tokenizer tiny() {
  auto t = ll::load_hf_tokenizer(tiny_json_path());
  if (!t.ok()) FAIL(t.error());
  return std::move(t).value();
}

// The tiny file with `edit` applied to its JSON.
template <typename Edit>
ll::Result<Tokenizer> tiny_edited(Edit edit) {
  nlohmann::json j = nlohmann::json::parse(tiny_json_text());
  edit(j);
  return Tokenizer::parse_hf(j.dump());
}

}  // namespace

TEST_CASE("HfTokenizerLoadsSpecialTokensFromAddedTokens", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  CHECK(t.format() == Tokenizer::Format::kHuggingFace);
  CHECK(t.vocab_size() == 25);
  CHECK(t.bos_id() == 1);
  CHECK(t.eos_id() == 2);
  CHECK(t.unk_id() == 0);
  CHECK(t.id_to_piece(18) == " hello");  // "▁" is stored as a space
}

TEST_CASE("HfEncodeAppliesMergesByRank", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  CHECK(t.encode("hello world", true) == Ids{1, 18, 23});
  CHECK(t.encode("hello world", false) == Ids{18, 23});
  CHECK(t.encode("hell", false) == Ids{17});
  CHECK(t.encode("world hello", false) == Ids{23, 18});
}

TEST_CASE("HfMergesFollowRanksNotVocabulary", "[tokenizer][hf]") {
  // "he" is a vocab piece, but no merge "h e" exists: HF BPE never forms it.
  const Tokenizer t = tiny();
  CHECK(t.encode("ohe", false) == Ids{6, 10, 7, 8});
}

TEST_CASE("HfEmptyTextEncodesToBosOnly", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  CHECK(t.encode("", true) == Ids{1});
  CHECK(t.encode("", false) == Ids{});
}

TEST_CASE("HfByteFallbackForUnknownCharacters", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  CHECK(t.encode("\xC3\xA9", false) == Ids{6, 4, 5});  // é -> <0xC3> <0xA9>
  CHECK(t.encode("hello\n", false) == Ids{18, 3});     // \n -> <0x0A>
}

TEST_CASE("HfUnknownCharacterWithoutByteTokensBecomesOneFusedUnk", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  CHECK(t.encode("zz", false) == Ids{6, 0});  // z has no piece and no <0x7A>: fused <unk>
  auto unfused = tiny_edited([](nlohmann::json& j) { j["model"]["fuse_unk"] = false; });
  REQUIRE(unfused.ok());
  CHECK(unfused->encode("zz", false) == Ids{6, 0, 0});
}

TEST_CASE("HfControlTokenTextIsNotAControlToken", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  for (int32_t id : t.encode("</s>", false)) CHECK(id != t.eos_id());
}

TEST_CASE("HfDecodeMatchesSentencePieceDecoder", "[tokenizer][hf]") {
  const Tokenizer t = tiny();
  CHECK(t.decode_piece(1, 18) == "hello");
  CHECK(t.decode_piece(18, 23) == " world");
  CHECK(t.decode_piece(18, 4) == "\xC3");
  ll::TextStreamer s;
  std::string text;
  const Ids ids = t.encode("hello \xC3\xA9", true);
  for (size_t i = 1; i < ids.size(); ++i) text += s.push(t.decode_piece(ids[i - 1], ids[i]));
  text += s.flush();
  CHECK(text == "hello \xC3\xA9");
}

TEST_CASE("HfMetaspacePreTokenizerVariantEncodesTheSame", "[tokenizer][hf]") {
  auto t = tiny_edited([](nlohmann::json& j) {
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {
        {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}};
  });
  REQUIRE(t.ok());
  CHECK(t->encode("hello world", true) == Ids{1, 18, 23});
  CHECK(t->encode("\xC3\xA9", false) == Ids{6, 4, 5});
}

TEST_CASE("HfMergesAsPairArraysAreAccepted", "[tokenizer][hf]") {
  auto t = tiny_edited([](nlohmann::json& j) {
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& m : j["model"]["merges"]) {
      const std::string s = m.get<std::string>();
      pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
    }
    j["model"]["merges"] = pairs;
  });
  REQUIRE(t.ok());
  CHECK(t->encode("hello world", false) == Ids{18, 23});
}

TEST_CASE("HfMalformedFilesAreRejected", "[tokenizer][hf]") {
  CHECK_FALSE(Tokenizer::parse_hf("").ok());
  CHECK_FALSE(Tokenizer::parse_hf("{\"model\": ").ok());
  CHECK_FALSE(Tokenizer::parse_hf("[1, 2]").ok());
  CHECK_FALSE(Tokenizer::parse_hf("{\"model\": {\"type\": \"BPE\", \"vocab\": []}}").ok());
  CHECK_FALSE(ll::load_hf_tokenizer("/nonexistent/tokenizer.json").ok());

  auto wrong_model = tiny_edited([](nlohmann::json& j) { j["model"]["type"] = "WordPiece"; });
  REQUIRE_FALSE(wrong_model.ok());
  CHECK(wrong_model.error().find("WordPiece") != std::string::npos);

  auto bad_merge = tiny_edited([](nlohmann::json& j) { j["model"]["merges"].push_back("q z"); });
  REQUIRE_FALSE(bad_merge.ok());
  CHECK(bad_merge.error().find("merge 10") != std::string::npos);

  auto byte_level = tiny_edited([](nlohmann::json& j) { j["pre_tokenizer"] = {{"type", "ByteLevel"}}; });
  REQUIRE_FALSE(byte_level.ok());
  CHECK(byte_level.error().find("ByteLevel") != std::string::npos);

  auto hole = tiny_edited([](nlohmann::json& j) { j["model"]["vocab"]["he"] = 40; });
  REQUIRE_FALSE(hole.ok());
  CHECK(hole.error().find("dense") != std::string::npos);

  auto bad_id = tiny_edited([](nlohmann::json& j) { j["model"]["vocab"]["he"] = "24"; });
  CHECK_FALSE(bad_id.ok());

  auto negative_id = tiny_edited([](nlohmann::json& j) { j["model"]["vocab"]["he"] = -1; });
  CHECK_FALSE(negative_id.ok());

  auto no_space_mapping = tiny_edited([](nlohmann::json& j) { j["normalizer"] = nullptr; });
  CHECK_FALSE(no_space_mapping.ok());

  auto no_bos = tiny_edited([](nlohmann::json& j) {
    j["added_tokens"][1]["content"] = "<bos>";
    j["model"]["vocab"].erase("<s>");
    j["model"]["vocab"]["<bos>"] = 1;
  });
  CHECK_FALSE(no_bos.ok());
}

TEST_CASE("HfCorruptedJsonNeverCrashesTheLoader", "[tokenizer][hf]") {
  const std::string good = tiny_json_text();
  std::mt19937 rng(11);
  std::uniform_int_distribution<size_t> where(0, good.size() - 1);
  const std::string alphabet = "{}[]\":,0123456789-ab \\";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  int loaded = 0;
  for (int round = 0; round < 300; ++round) {
    std::string bad = good;
    bad[where(rng)] = alphabet[pick(rng)];
    auto t = Tokenizer::parse_hf(bad);
    if (!t.ok()) continue;
    ++loaded;
    for (int32_t id : t->encode("hello world z\xC3\xA9", true)) REQUIRE((id >= 0 && id < t->vocab_size()));
  }
  CHECK(loaded > 0);  // some flips are harmless (inside a piece name, whitespace)
}
