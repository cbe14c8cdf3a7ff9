// The Hugging Face path on a realistic vocabulary: tok512.bin rewritten as a Llama-style tokenizer.json, the way
// Hugging Face converts SentencePiece BPE models (every split (l, r) of a piece into two pieces is a merge, ranked by
// the merged piece's score). Merge-rank BPE over that file must give the same ids as run.c's score BPE on
// tok512.bin. Single-threaded.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "unit/model/tokenizer_test_util.h"

namespace {

std::string to_metaspace(const std::string& piece) {
  std::string out;
  for (char c : piece) out += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  return out;
}

std::string tok512_as_hf_json(const ll::Tokenizer& t) {
  nlohmann::json vocab = nlohmann::json::object();
  std::vector<std::string> names(static_cast<size_t>(t.vocab_size()));
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    std::string name = id == 0   ? "<unk>"
                       : id == 1 ? "<s>"
                       : id == 2 ? "</s>"
                                 : to_metaspace(std::string(t.id_to_piece(id)));
    names[static_cast<size_t>(id)] = name;
    vocab[name] = id;
  }
  nlohmann::json merges = nlohmann::json::array();
  // Pieces after the byte tokens are stored by decreasing score: id order is rank order.
  for (int32_t id = 259; id < t.vocab_size(); ++id) {
    const std::string piece(t.id_to_piece(id));
    for (size_t k = 1; k < piece.size(); ++k) {
      const int32_t l = t.piece_to_id(piece.substr(0, k)), r = t.piece_to_id(piece.substr(k));
      if (l >= 259 && r >= 259) merges.push_back(names[static_cast<size_t>(l)] + " " + names[static_cast<size_t>(r)]);
    }
  }
  nlohmann::json j = {{"added_tokens",
                       {{{"id", 0}, {"content", "<unk>"}, {"special", true}},
                        {{"id", 1}, {"content", "<s>"}, {"special", true}},
                        {{"id", 2}, {"content", "</s>"}, {"special", true}}}},
                      {"normalizer",
                       {{"type", "Sequence"},
                        {"normalizers",
                         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
                      {"pre_tokenizer", nullptr},
                      {"model",
                       {{"type", "BPE"},
                        {"unk_token", "<unk>"},
                        {"fuse_unk", true},
                        {"byte_fallback", true},
                        {"vocab", vocab},
                        {"merges", merges}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

TEST_CASE("HfMergeRankBpeAgreesWithRunCOnTok512", "[tokenizer][hf][tok512]") {
  auto llama2c = ll::load_llama2c_tokenizer(ll::test::tok512_path(), 512);
  REQUIRE(llama2c.ok());
  auto hf = ll::Tokenizer::parse_hf(tok512_as_hf_json(*llama2c));
  if (!hf.ok()) FAIL(hf.error());
  REQUIRE(hf->vocab_size() == 512);

  std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
      "Lily and Ben were friends. They liked to play with the ball.\n\"Look!\" said Ben.",
      "tabs\tand\nnewlines\r\nand   runs   of spaces ",
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82",
      "the the the the aaaa bbbb",
  };
  const std::vector<std::string> words = {"the", "a", "Lily", "Ben", "play",     "ed",   "ing",  "happy", "said", "mom",
                                          ".",   ",", " ",    "\n",  "\xC3\xA9", "once", "upon", "time",  "big",  "x"};
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> pick(0, words.size() - 1);
  for (int i = 0; i < 300; ++i) {
    std::string text;
    for (int k = 0; k < 12; ++k) text += words[pick(rng)] + (k % 3 == 0 ? "" : " ");
    texts.push_back(text);
  }
  for (const std::string& text : texts) {
    INFO("text: \"" << text << "\"");
    CHECK(hf->encode(text, true) == llama2c->encode(text, true));
  }
}
