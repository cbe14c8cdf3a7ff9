// Cross-check: ll::Tokenizer::encode against the encode() of the reference oracle test/reference/run_ref.c (a port
// of llama2.c run.c), compiled into this test inside namespace runref, on the real tok512.bin. Fixed prompts cover
// unicode, odd whitespace, invalid UTF-8 and text that spells control tokens; a seeded random sweep covers the rest.
// Single-threaded.
#include <catch2/catch.hpp>

// run_ref.c's headers first, at global scope, so that its own #includes inside the namespace are no-ops.
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"  // the model half of run_ref.c is not used here
namespace runref {
#define RUN_REF_NO_MAIN
#include "reference/run_ref.c"
#undef RUN_REF_NO_MAIN
}  // namespace runref
#pragma GCC diagnostic pop

#include "model/tokenizer.h"
#include "unit/model/tokenizer_test_util.h"

namespace {

// run.c's tokenizer, loaded once (its loader exits on errors, so the file's presence is checked first).
runref::Tokenizer& reference_tokenizer() {
  static runref::Tokenizer* t = [] {
    auto* r = new runref::Tokenizer();
    runref::build_tokenizer(r, ll::test::tok512_path().c_str(), 512);
    return r;
  }();
  return *t;
}

std::vector<int32_t> reference_encode(const std::string& text, bool bos) {
  std::vector<int> tokens(strlen(text.c_str()) + 3);
  int n = 0;
  runref::encode(&reference_tokenizer(), text.c_str(), bos ? 1 : 0, 0, tokens.data(), &n);
  return std::vector<int32_t>(tokens.begin(), tokens.begin() + n);
}

const ll::Tokenizer& our_tokenizer() {
  static const ll::Tokenizer t = [] {
    auto loaded = ll::load_llama2c_tokenizer(ll::test::tok512_path(), 512);
    if (!loaded.ok()) FAIL(loaded.error());
    return std::move(loaded).value();
  }();
  return t;
}

}  // namespace

TEST_CASE("EncodeMatchesRunCOnFixedPrompts", "[tokenizer][reference][tok512]") {
  const std::vector<std::string> prompts = {
      "",
      "a",
      " ",
      "  ",
      "Once upon a time",
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
      "Lily and Ben were friends. They liked to play with the ball.\n\"Look!\" said Ben.",
      " leading and trailing spaces ",
      "tabs\tand\nnewlines\r\nand   runs   of spaces",
      "caf\xC3\xA9 na\xC3\xAFve r\xC3\xA9sum\xC3\xA9",
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87",  // 日本語の文
      "emoji \xF0\x9F\x99\x82\xF0\x9F\x8E\x89 and \xE2\x96\x81 metaspace",
      "\xC3",  // truncated 2-byte sequence
      "\x80\x80\x80\x80\x80\x80"
      "abc",           // stray continuation bytes (run.c chunks them 4 at a time)
      "\xF0\x9F\x99",  // truncated 4-byte sequence
      "\xFF\xFE invalid lead bytes",
      "<s> </s> <unk> <0x41>",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "the the the the the the the the the the",
      "0123456789 +-*/ = ?! ;:,. ()[]{} @#$%^&~`|\\",
  };
  const ll::Tokenizer& ours = our_tokenizer();
  for (const std::string& prompt : prompts) {
    INFO("prompt: \"" << prompt << "\"");
    CHECK(ours.encode(prompt, true) == reference_encode(prompt, true));
    CHECK(ours.encode(prompt, false) == reference_encode(prompt, false));
  }
}

TEST_CASE("EncodeMatchesRunCOnRandomText", "[tokenizer][reference][tok512]") {
  // Fragments biased towards real words and pieces (so merges happen), plus unicode and raw bytes.
  const std::vector<std::string> fragments = {"a",
                                              "e",
                                              "t",
                                              "h",
                                              "he",
                                              "the",
                                              " ",
                                              "  ",
                                              "\n",
                                              "\t",
                                              "Lily",
                                              "Ben",
                                              "play",
                                              "ed",
                                              "ing",
                                              "s",
                                              ".",
                                              ",",
                                              "!",
                                              "\"",
                                              "'",
                                              "Once",
                                              "upon",
                                              "time",
                                              "happy",
                                              "\xC3\xA9",
                                              "\xE2\x80\x99",
                                              "\xF0\x9F\x98\x80",
                                              "\xE4\xB8\xAD",
                                              "\x80",
                                              "\xC3",
                                              "\xFF",
                                              "x",
                                              "q",
                                              "z",
                                              "1",
                                              "42",
                                              "The",
                                              "THE",
                                              "big",
                                              "red",
                                              "ball",
                                              "mom",
                                              "dog",
                                              "cat"};
  std::mt19937 rng(20261125);
  std::uniform_int_distribution<size_t> pick(0, fragments.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  const ll::Tokenizer& ours = our_tokenizer();
  for (int round = 0; round < 400; ++round) {
    std::string text;
    const int n = length(rng);
    for (int i = 0; i < n; ++i) text += fragments[pick(rng)];
    INFO("round " << round << " text: \"" << text << "\"");
    REQUIRE(ours.encode(text, true) == reference_encode(text, true));
  }
}

TEST_CASE("DecodeMatchesRunCForEveryToken", "[tokenizer][reference][tok512]") {
  // run.c's decode returns a C string: a <0x00> byte piece reads as "" there, "\0" here (the raw byte).
  const ll::Tokenizer& ours = our_tokenizer();
  for (int32_t prev : {1, 2, 0, 410, 300}) {
    for (int32_t token = 0; token < 512; ++token) {
      INFO("prev " << prev << " token " << token);
      const std::string expected = runref::decode(&reference_tokenizer(), prev, token);
      const std::string got = ours.decode_piece(prev, token);
      CHECK((got == expected || (got == std::string(1, '\0') && expected.empty())));
    }
  }
}
