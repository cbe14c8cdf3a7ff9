// Tests of the llama2.c-format tokenizer: loader validation (untrusted bytes), run.c's encode rules, decode, the
// UTF-8 streamer, and round trips on the real tok512.bin. Single-threaded.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "unit/model/tokenizer_test_util.h"

using ll::Tokenizer;
using ll::test::make_llama2c_tokenizer;
using ll::test::vocab_size_of;
using Ids = std::vector<int32_t>;

namespace {

// " " = 259, "a" = 260, "b" = 261, "ab" = 262, "ba" = 263, " a" = 264.
const std::vector<std::pair<std::string, float>> kSmall = {{" ", -1.f},  {"a", -1.f},  {"b", -1.f},
                                                           {"ab", -5.f}, {"ba", -5.f}, {" a", -9.f}};

Tokenizer small_tokenizer(std::vector<std::pair<std::string, float>> extra = kSmall) {
  auto t = Tokenizer::parse_llama2c(make_llama2c_tokenizer(extra), vocab_size_of(extra));
  REQUIRE(t.ok());
  return std::move(t).value();
}

std::string decode_all(const Tokenizer& t, const Ids& ids) {
  std::string text;
  for (size_t i = 1; i < ids.size(); ++i) text += t.decode_piece(ids[i - 1], ids[i]);
  return text;
}

}  // namespace

TEST_CASE("TruncatedTokenizerIsRejected", "[tokenizer]") {
  const std::string full = make_llama2c_tokenizer(kSmall);
  const int32_t vocab = vocab_size_of(kSmall);
  REQUIRE(Tokenizer::parse_llama2c(full, vocab).ok());
  // Every proper prefix is an error, never a crash or a partly filled tokenizer.
  for (size_t len = 0; len < full.size(); ++len) {
    auto t = Tokenizer::parse_llama2c(std::string_view(full).substr(0, len), vocab);
    INFO("prefix of " << len << " bytes");
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().find("truncated") != std::string::npos);
  }
}

TEST_CASE("HugeVocabSizeIsRejectedBeforeAllocating", "[tokenizer]") {
  const std::string bytes = make_llama2c_tokenizer(kSmall);
  auto t = Tokenizer::parse_llama2c(bytes, 1 << 20);  // plausible size, but the data cannot hold it
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().find("truncated") != std::string::npos);
  CHECK_FALSE(Tokenizer::parse_llama2c(bytes, (1 << 20) + 1).ok());
  CHECK_FALSE(Tokenizer::parse_llama2c(bytes, -5).ok());
  CHECK_FALSE(Tokenizer::parse_llama2c(bytes, 100).ok());  // no room for the 256 byte-fallback tokens
}

TEST_CASE("TokenLongerThanMaxTokenLengthIsRejected", "[tokenizer]") {
  const std::vector<std::pair<std::string, float>> extra = {{"abcdefgh", 0.f}};
  auto t = Tokenizer::parse_llama2c(make_llama2c_tokenizer(extra, /*max_token_length=*/7), vocab_size_of(extra));
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().find("length 8") != std::string::npos);
}

TEST_CASE("NegativeTokenLengthIsRejected", "[tokenizer]") {
  std::string bytes = make_llama2c_tokenizer(kSmall);
  const int32_t bad = -1;
  std::memcpy(bytes.data() + 4 + 4, &bad, 4);  // token 0's length
  CHECK_FALSE(Tokenizer::parse_llama2c(bytes, vocab_size_of(kSmall)).ok());
}

TEST_CASE("ImplausibleMaxTokenLengthIsRejected", "[tokenizer]") {
  std::string bytes = make_llama2c_tokenizer(kSmall);
  for (int32_t bad : {0, -3, (1 << 16) + 1}) {
    std::memcpy(bytes.data(), &bad, 4);
    CHECK_FALSE(Tokenizer::parse_llama2c(bytes, vocab_size_of(kSmall)).ok());
  }
}

TEST_CASE("TrailingBytesMeanTheWrongVocabSize", "[tokenizer]") {
  const std::string bytes = make_llama2c_tokenizer(kSmall);
  auto t = Tokenizer::parse_llama2c(bytes, vocab_size_of(kSmall) - 1);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().find("trailing") != std::string::npos);
}

TEST_CASE("MissingTokenizerFileNamesThePath", "[tokenizer]") {
  auto t = ll::load_llama2c_tokenizer("/nonexistent/dir/tok.bin", 512);
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().find("/nonexistent/dir/tok.bin") != std::string::npos);
}

TEST_CASE("EmptyTextEncodesToBosOnly", "[tokenizer]") {
  const Tokenizer t = small_tokenizer();
  CHECK(t.encode("", true) == Ids{1});
  CHECK(t.encode("", false) == Ids{});
  CHECK(t.encode(std::string_view("\0abc", 4), true) == Ids{1});  // text ends at NUL, as C strings do in run.c
}

TEST_CASE("NonEmptyTextGetsTheDummySpacePrefix", "[tokenizer]") {
  const Tokenizer t = small_tokenizer();
  CHECK(t.encode("b", true) == Ids{1, 259, 261});
  CHECK(t.encode("b", false) == Ids{259, 261});
}

TEST_CASE("ByteFallbackForUnknownCharacters", "[tokenizer]") {
  const Tokenizer t = small_tokenizer();
  // "é" (C3 A9) and "🙂" (F0 9F 99 82) are not pieces: each byte becomes its token, byte + 3.
  CHECK(t.encode("\xC3\xA9", false) == Ids{259, 0xC3 + 3, 0xA9 + 3});
  CHECK(t.encode("\xF0\x9F\x99\x82", false) == Ids{259, 0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3});
  CHECK(t.encode("\x01", false) == Ids{259, 1 + 3});
}

TEST_CASE("HighestScoringPairMergesFirst", "[tokenizer]") {
  // "ba" outscores "ab": "aba" -> a + ba.
  const Tokenizer t = small_tokenizer({{" ", -1.f}, {"a", -1.f}, {"b", -1.f}, {"ab", -5.f}, {"ba", -4.f}});
  CHECK(t.encode("aba", false) == Ids{259, 260, 263});
}

TEST_CASE("EqualScoresMergeLeftmostFirst", "[tokenizer]") {
  // "ab" and "ba" tie: run.c's strict '>' keeps the leftmost pair, so "aba" -> ab + a, "bab" -> ba + b.
  const Tokenizer t = small_tokenizer({{" ", -1.f}, {"a", -1.f}, {"b", -1.f}, {"ab", -5.f}, {"ba", -5.f}});
  CHECK(t.encode("aba", false) == Ids{259, 262, 260});
  CHECK(t.encode("bab", false) == Ids{259, 263, 261});
}

TEST_CASE("MergesRepeatUntilNoPairIsInTheVocab", "[tokenizer]") {
  const Tokenizer t = small_tokenizer(
      {{" ", -1.f}, {"a", -1.f}, {"b", -1.f}, {"ab", -5.f}, {"abab", -6.f}, {" abab", -7.f}, {"ababab", -8.f}});
  // ab ab ab -> abab ab (leftmost) -> " abab" ab? " abab" (-7) beats "ababab" (-8).
  CHECK(t.encode("ababab", false) == Ids{264, 262});
}

TEST_CASE("ScoresAtOrBelowMinusTenBillionNeverMerge", "[tokenizer]") {
  const Tokenizer t = small_tokenizer({{" ", -1.f}, {"a", -1.f}, {"b", -1.f}, {"ab", -1e10f}, {"ba", -2e10f}});
  CHECK(t.encode("abab", false) == Ids{259, 260, 261, 260, 261});
}

TEST_CASE("DecodeStripsTheLeadingSpaceOnlyAfterBos", "[tokenizer]") {
  const Tokenizer t = small_tokenizer();
  CHECK(t.decode_piece(1, 264) == "a");
  CHECK(t.decode_piece(260, 264) == " a");
  CHECK(t.decode_piece(1, 259) == "");
}

TEST_CASE("DecodeTurnsBytePiecesIntoRawBytes", "[tokenizer]") {
  const Tokenizer t = small_tokenizer();
  CHECK(t.decode_piece(260, 0x41 + 3) == "A");
  CHECK(t.decode_piece(260, 0xC3 + 3) == "\xC3");
  CHECK(t.decode_piece(260, 3) == std::string(1, '\0'));
  CHECK(t.decode_piece(260, 99999) == "");
  CHECK(t.decode_piece(260, -1) == "");
}

TEST_CASE("TextStreamerHoldsBackIncompleteUtf8", "[tokenizer]") {
  ll::TextStreamer s;
  CHECK(s.push("ab") == "ab");
  CHECK(s.push("\xF0\x9F") == "");  // first half of 🙂
  CHECK(s.push("\x99") == "");
  CHECK(s.push("\x82!") == "\xF0\x9F\x99\x82!");
  CHECK(s.push("x\xC3") == "x");
  CHECK(s.push("\xA9") == "\xC3\xA9");
  CHECK(s.push("\xE2\x96") == "");
  CHECK(s.flush() == "\xEF\xBF\xBD");  // an unfinished sequence is released by flush, as one U+FFFD
  CHECK(s.flush() == "");
}

TEST_CASE("InvalidUtf8PrintsAsReplacementCharacters", "[tokenizer]") {
  // Byte tokens that cannot form UTF-8 used to pass through raw locally while the cluster's JSON turned them into
  // U+FFFD: the same tokens printed differently. Now every path gets these bytes.
  const std::string fffd = "\xEF\xBF\xBD";
  ll::TextStreamer s;
  CHECK(s.push("\x80\x80") == fffd + fffd);  // stray continuation bytes
  CHECK(s.push("\xFF") == fffd);
  CHECK(s.push("\xC0\xAF") == fffd + fffd);                 // overlong '/'
  CHECK(s.push("\xED\xA0\x80") == fffd + fffd + fffd);      // a surrogate: E0-style maximal subparts of one byte
  CHECK(s.push("\xE2\x96x") == fffd + "x");                 // a sequence cut short by ASCII: one U+FFFD for the prefix
  CHECK(s.push("\xF0\x9F\x99\x82") == "\xF0\x9F\x99\x82");  // valid text is untouched
  CHECK(s.push("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // above U+10FFFF
  CHECK(s.flush() == "");
}

TEST_CASE("RealTokenizerLoadsWithLlamaSpecialIds", "[tokenizer][tok512]") {
  auto t = ll::load_llama2c_tokenizer(ll::test::tok512_path(), 512);
  REQUIRE(t.ok());
  CHECK(t->vocab_size() == 512);
  CHECK(t->bos_id() == 1);
  CHECK(t->eos_id() == 2);
  CHECK(t->id_to_piece(3) == "<0x00>");
  CHECK(t->id_to_piece(410) == " ");
  CHECK(t->piece_to_id(" ") == 410);
  CHECK(t->format() == Tokenizer::Format::kLlama2c);
  CHECK_FALSE(ll::load_llama2c_tokenizer(ll::test::tok512_path(), 511).ok());
  CHECK_FALSE(ll::load_llama2c_tokenizer(ll::test::tok512_path(), 513).ok());
}

TEST_CASE("RealTokenizerRoundTripsText", "[tokenizer][tok512]") {
  auto loaded = ll::load_llama2c_tokenizer(ll::test::tok512_path(), 512);
  REQUIRE(loaded.ok());
  const Tokenizer& t = *loaded;
  const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "Hello world",
      " leading space",
      "trailing space ",
      "two  spaces\tand a tab\nand a newline\r\n",
      "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x99\x82",
      "<0x41> <s> </s> <unk>",
      "a",
      " ",
      "1234567890 !?.,;:'\"()[]{}",
  };
  for (const auto& text : texts) {
    INFO("text: " << text);
    const Ids ids = t.encode(text, true);
    REQUIRE(ids.size() >= 2);
    CHECK(ids.front() == 1);
    for (int32_t id : ids) CHECK((id >= 0 && id < 512));
    CHECK(decode_all(t, ids) == text);
  }
}

TEST_CASE("RealTokenizerMergesCommonWords", "[tokenizer][tok512]") {
  auto t = ll::load_llama2c_tokenizer(ll::test::tok512_path(), 512);
  REQUIRE(t.ok());
  // The known-answer story starts with these tokens (checked against run_ref in tokenizer_reference_test.cc).
  const Ids ids = t->encode("Once upon a time", true);
  CHECK(ids.size() < 8);  // merged, not one token per character
  std::string pieces;
  for (size_t i = 1; i < ids.size(); ++i) pieces += std::string(t->id_to_piece(ids[i])) + "|";
  INFO(pieces);
  CHECK(decode_all(*t, ids) == "Once upon a time");
}

TEST_CASE("CorruptedTokenizerBytesNeverCrashTheLoader", "[tokenizer]") {
  // Random byte flips: each load either fails cleanly or yields a tokenizer that encodes and decodes safely.
  const std::string good = make_llama2c_tokenizer(kSmall);
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> where(0, good.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    std::string bad = good;
    for (int flips = 0; flips < 1 + round % 4; ++flips) bad[where(rng)] = static_cast<char>(byte(rng));
    auto t = Tokenizer::parse_llama2c(bad, vocab_size_of(kSmall));
    if (!t.ok()) continue;
    const Ids ids = t->encode("abba caf\xC3\xA9", true);
    for (int32_t id : ids) REQUIRE((id >= 0 && id < t->vocab_size()));
    (void)decode_all(*t, ids);
  }
}
