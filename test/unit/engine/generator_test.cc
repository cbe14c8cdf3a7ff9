// The generation loop and the sampler over a fake ShardRange: stop conditions, session cleanup, seeding.
#include <catch2/catch.hpp>
#include <cstring>
#include <set>

#include "engine/generator.h"

using namespace ll;

namespace {

// A llama2.c tokenizer blob: <unk> <s> </s>, 256 byte tokens, then "a".."z" as pieces.
Tokenizer small_tokenizer() {
  std::string blob;
  auto put_i32 = [&](int32_t v) { blob.append(reinterpret_cast<const char*>(&v), 4); };
  auto put_f32 = [&](float v) { blob.append(reinterpret_cast<const char*>(&v), 4); };
  std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int b = 0; b < 256; ++b) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "<0x%02X>", b);
    pieces.push_back(buffer);
  }
  for (char c = 'a'; c <= 'z'; ++c) pieces.push_back(std::string(1, c));
  put_i32(8);
  for (const auto& p : pieces) {
    put_f32(0.0f);
    put_i32(static_cast<int32_t>(p.size()));
    blob += p;
  }
  auto tokenizer = Tokenizer::parse_llama2c(blob, static_cast<int32_t>(pieces.size()));
  REQUIRE(tokenizer.ok());
  return std::move(tokenizer).value();
}

Manifest small_manifest(int context) {
  Manifest m;
  m.hparams.vocab_size = 285;
  m.hparams.context_length = context;
  m.hparams.dim = 4;
  return m;
}

// Emits logits that make `script[position]` the argmax; records what it was asked.
class ScriptedRange : public ShardRange {
 public:
  explicit ScriptedRange(std::vector<int32_t> script) : script_(std::move(script)) {}
  int first_shard() const override { return 0; }
  int last_shard() const override { return 2; }
  Status open_session(uint64_t id) override {
    open_.insert(id);
    return Status::Ok();
  }
  void close_session(uint64_t id) override { open_.erase(id); }
  size_t open_sessions() const override { return open_.size(); }
  Result<Tensor32> forward(uint64_t, const StepInput& input) override {
    steps.push_back(input.step_tokens());
    starts.push_back(input.start_pos);
    if (fail_at >= 0 && static_cast<int>(steps.size()) > fail_at) return make_error("injected failure");
    const size_t next = static_cast<size_t>(input.start_pos + input.step_tokens());
    Tensor32 logits;
    logits.shape = {285};
    logits.values.assign(285, 0.0f);
    logits.values[script_[std::min(next, script_.size() - 1)]] = 10.0f;
    return logits;
  }
  std::vector<int> steps;
  std::vector<int> starts;
  int fail_at = -1;

 private:
  std::vector<int32_t> script_;
  std::set<uint64_t> open_;
};

}  // namespace

TEST_CASE("PrefillIsOnePassThenOneTokenPerStep", "[engine]") {
  Tokenizer tok = small_tokenizer();
  Manifest m = small_manifest(64);
  ScriptedRange range(std::vector<int32_t>(64, 259));  // always "a"
  Generator gen(m, tok, range);
  GenerateOptions options;
  options.max_tokens = 5;
  auto r = gen.generate_tokens({1, 260, 261}, options, nullptr);
  REQUIRE(r.ok());
  CHECK(range.steps == std::vector<int>{3, 1, 1, 1, 1});
  CHECK(r->tokens.size() == 5);
  CHECK(r->stop_reason == "max_tokens");
  CHECK(r->text == "aaaaa");
}

TEST_CASE("LongPromptIsComputedInChunksAndOnlyTheLastChunkGivesTheFirstToken", "[engine][prefill]") {
  Tokenizer tok = small_tokenizer();
  Manifest m = small_manifest(128);
  std::vector<int32_t> script(128, 260);  // "b" after the prompt...
  script[70] = 259;                       // ...but "a" is the token at position 70, the one the last chunk predicts
  ScriptedRange range(script);
  Generator gen(m, tok, range);
  GenerateOptions options;
  options.max_tokens = 2;
  options.prefill_chunk = 32;
  std::vector<int32_t> prompt(70, 261);
  prompt[0] = 1;
  auto r = gen.generate_tokens(prompt, options, nullptr);
  REQUIRE(r.ok());
  CHECK(range.steps == std::vector<int>{32, 32, 6, 1});
  CHECK(range.starts == std::vector<int>{0, 32, 64, 70});
  CHECK(r->text == "ab");
}

TEST_CASE("PrefillChunkOutsideItsRangeFailsTheGeneration", "[engine][prefill]") {
  Tokenizer tok = small_tokenizer();
  Manifest m = small_manifest(64);
  ScriptedRange range(std::vector<int32_t>(64, 259));
  Generator gen(m, tok, range);
  GenerateOptions options;
  options.prefill_chunk = 5;
  auto r = gen.generate_tokens({1, 260, 261}, options, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("prefill chunk") != std::string::npos);
  CHECK(range.steps.empty());
  CHECK(range.open_sessions() == 0);
}

TEST_CASE("GenerationStopsAtEos", "[engine]") {
  Tokenizer tok = small_tokenizer();
  Manifest m = small_manifest(64);
  ScriptedRange range({0, 0, 259, 260, 2, 259});  // position 2 "a", 3 "b", 4 EOS
  Generator gen(m, tok, range);
  GenerateOptions options;
  options.max_tokens = 50;
  auto r = gen.generate_tokens({1, 259}, options, nullptr);
  REQUIRE(r.ok());
  CHECK(r->tokens == std::vector<int32_t>{259, 260});
  CHECK(r->stop_reason == "eos");
}

TEST_CASE("CancelledGenerationClosesItsSession", "[engine]") {
  Tokenizer tok = small_tokenizer();
  Manifest m = small_manifest(64);
  ScriptedRange range(std::vector<int32_t>(64, 259));
  Generator gen(m, tok, range);
  int calls = 0;
  auto r = gen.generate_tokens({1}, GenerateOptions{}, [&](int32_t, const std::string&) { return ++calls < 3; });
  REQUIRE(r.ok());
  CHECK(r->stop_reason == "cancelled");
  CHECK(r->tokens.size() == 3);
  CHECK(range.open_sessions() == 0);
}

TEST_CASE("FailedStepReturnsAnErrorAndClosesItsSession", "[engine]") {
  Tokenizer tok = small_tokenizer();
  Manifest m = small_manifest(64);
  ScriptedRange range(std::vector<int32_t>(64, 259));
  range.fail_at = 2;
  Generator gen(m, tok, range);
  auto r = gen.generate_tokens({1}, GenerateOptions{}, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error(), Catch::Contains("injected"));
  CHECK(range.open_sessions() == 0);
}

TEST_CASE("InvalidSamplingParametersAreRejected", "[engine]") {
  CHECK_FALSE(validate_sampling(SamplingParams{-1.0f, 0, 1.0f, 0}).ok());
  CHECK_FALSE(validate_sampling(SamplingParams{1.0f, -3, 1.0f, 0}).ok());
  CHECK_FALSE(validate_sampling(SamplingParams{1.0f, 0, 0.0f, 0}).ok());
  CHECK(validate_sampling(SamplingParams{0.7f, 40, 0.9f, 1}).ok());
}

TEST_CASE("SamplerIsGreedyAtTemperatureZeroAndWithTopKOne", "[engine]") {
  std::vector<float> logits{0.1f, 2.0f, 1.9f, -1.0f};
  CHECK(Sampler(SamplingParams{}).sample(logits, 3) == 1);
  for (int pos = 0; pos < 50; ++pos) CHECK(Sampler(SamplingParams{1.5f, 1, 1.0f, 42}).sample(logits, pos) == 1);
}

TEST_CASE("SamplerDrawDependsOnlyOnSeedAndPosition", "[engine]") {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  Sampler a(SamplingParams{1.0f, 0, 1.0f, 7}), b(SamplingParams{1.0f, 0, 1.0f, 7});
  std::set<int32_t> seen;
  for (int pos = 0; pos < 200; ++pos) {
    const int32_t x = a.sample(logits, pos);
    CHECK(x == b.sample(logits, pos));
    seen.insert(x);
  }
  CHECK(seen.size() > 10);  // really random across positions
}

TEST_CASE("TopPKeepsOnlyTheNucleus", "[engine]") {
  std::vector<float> logits{5.0f, 4.9f, -5.0f, -5.0f, -5.0f};  // two tokens hold almost all the mass
  for (int pos = 0; pos < 200; ++pos) {
    const int32_t x = Sampler(SamplingParams{1.0f, 0, 0.9f, 3}).sample(logits, pos);
    CHECK((x == 0 || x == 1));
  }
}
