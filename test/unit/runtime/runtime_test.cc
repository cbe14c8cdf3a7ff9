// The libtorch engine on real packages: the known answer, logits against the exporter's eager model, and
// untrusted files (truncated, corrupt, not TorchScript) rejected with clear errors.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "engine/generator.h"
#include "runtime/local_model.h"
#include "support/packages.h"
#include "support/paths.h"

namespace fs = std::filesystem;
using namespace ll;
using test::copy_package;
using test::open_or_fail;

namespace {

void rewrite_manifest_sha(const std::string& dir, int shard) {
  std::ifstream in(dir + "/manifest.json");
  nlohmann::json m = nlohmann::json::parse(in);
  std::string file = m["shards"][shard]["file"];
  m["shards"][shard]["sha256"] = sha256_file_hex(dir + "/" + file).value();
  m["shards"][shard]["file_bytes"] = fs::file_size(dir + "/" + file);
  std::ofstream(dir + "/manifest.json") << m.dump();
}

}  // namespace

TEST_CASE("KnownAnswerStories260KGreedyFromBos", "[runtime][model]") {
  LocalModel model = open_or_fail(test::model_dir("stories260K"));
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  GenerateOptions options;
  options.max_tokens = 200;
  auto result = generator.generate("", options, nullptr);
  REQUIRE(result.ok());
  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
      "a big, red ball. She wanted to play with it, but it was too high.";
  REQUIRE(result->text.substr(0, expected.size()) == expected);
  CHECK(result->prompt_tokens == std::vector<int32_t>{1});
  CHECK(model.shards->open_sessions() == 0);
}

TEST_CASE("LogitsMatchEagerReferenceForPrefillAndEveryDecodeStep", "[runtime]") {
  const std::string dir = test::model_dir("odd");
  LocalModel model = open_or_fail(dir);
  std::ifstream in(dir + "/reference.json");
  REQUIRE(in.good());
  nlohmann::json ref = nlohmann::json::parse(in);
  std::vector<int32_t> tokens = ref["tokens"].get<std::vector<int32_t>>();
  const int prefill = ref["prefill"];
  const auto& expected = ref["logits"];
  REQUIRE(expected.size() == tokens.size() - prefill + 1);
  REQUIRE(model.shards->open_session(1).ok());
  double worst = 0;
  for (size_t step = 0; step < expected.size(); ++step) {
    StepInput input;
    input.start_pos = step == 0 ? 0 : prefill + static_cast<int>(step) - 1;
    if (step == 0)
      input.tokens.assign(tokens.begin(), tokens.begin() + prefill);
    else
      input.tokens = {tokens[input.start_pos]};
    auto logits = model.shards->forward(1, input);
    REQUIRE(logits.ok());
    std::vector<float> want = expected[step].get<std::vector<float>>();
    REQUIRE(logits->values.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(double(logits->values[i]) - want[i]));
  }
  INFO("largest logit difference " << worst);
  CHECK(worst < 1e-4);
}

TEST_CASE("DecodingWithCacheEqualsRecomputingTheSequence", "[runtime]") {
  LocalModel model = open_or_fail(test::model_dir("odd"));
  const std::vector<int32_t> tokens{1, 40, 41, 290, 7, 8, 100, 101, 102};
  REQUIRE(model.shards->open_session(1).ok());
  for (size_t n = 1; n <= tokens.size(); ++n) {
    StepInput step;
    step.start_pos = static_cast<int>(n) - 1;
    step.tokens = {tokens[n - 1]};
    auto cached = model.shards->forward(1, step);
    REQUIRE(model.shards->open_session(2).ok());
    StepInput whole;
    whole.tokens.assign(tokens.begin(), tokens.begin() + n);
    auto recomputed = model.shards->forward(2, whole);
    model.shards->close_session(2);
    REQUIRE(cached.ok());
    REQUIRE(recomputed.ok());
    for (size_t i = 0; i < cached->values.size(); ++i)
      REQUIRE(std::fabs(cached->values[i] - recomputed->values[i]) < 1e-4);
  }
}

TEST_CASE("SameSeedGivesSameTextAndOtherSeedsDiffer", "[runtime]") {
  LocalModel model = open_or_fail(test::model_dir("stories260K"));
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  GenerateOptions options;
  options.max_tokens = 60;
  options.sampling = SamplingParams{0.9f, 40, 0.95f, 1234};
  auto a = generator.generate("Once upon a time", options, nullptr);
  auto b = generator.generate("Once upon a time", options, nullptr);
  options.sampling.seed = 99;
  auto c = generator.generate("Once upon a time", options, nullptr);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a->tokens == b->tokens);
  CHECK(a->tokens != c->tokens);
}

TEST_CASE("PromptLongerThanTheContextIsRejected", "[runtime]") {
  LocalModel model = open_or_fail(test::model_dir("odd"));  // context 64
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  std::vector<int32_t> prompt(64, 5);
  prompt[0] = 1;
  auto result = generator.generate_tokens(prompt, GenerateOptions{}, nullptr);
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.error(), Catch::Contains("context"));
  CHECK(model.shards->open_sessions() == 0);
}

TEST_CASE("GenerationStopsAtTheContextLength", "[runtime]") {
  LocalModel model = open_or_fail(test::model_dir("odd"));
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  GenerateOptions options;
  options.max_tokens = 1000;
  options.ignore_eos = true;
  auto result = generator.generate_tokens({1, 5, 6}, options, nullptr);
  REQUIRE(result.ok());
  CHECK(result->stop_reason == "context");
  CHECK(result->prompt_tokens.size() + result->tokens.size() == 64);
}

TEST_CASE("TruncatedShardIsRejected", "[runtime][validation]") {
  const std::string dir = copy_package("odd", "trunc");
  fs::resize_file(dir + "/shard-001-block-000.ptl", 1000);
  auto model = open_local_model(dir, RuntimeOptions{});
  REQUIRE_FALSE(model.ok());
  CHECK_THAT(model.error(), Catch::Contains("truncated"));
  fs::remove_all(dir);
}

TEST_CASE("CorruptShardFailsItsHashCheck", "[runtime][validation]") {
  const std::string dir = copy_package("odd", "corrupt");
  {
    std::fstream f(dir + "/shard-002-block-001.ptl", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  auto model = open_local_model(dir, RuntimeOptions{});
  REQUIRE_FALSE(model.ok());
  CHECK_THAT(model.error(), Catch::Contains("sha256 mismatch"));
  fs::remove_all(dir);
}

TEST_CASE("BadMagicFailsToLoad", "[runtime][validation]") {
  // The manifest vouches for the file, but it is not a TorchScript archive: a clean error, not a crash.
  const std::string dir = copy_package("odd", "magic");
  std::ofstream(dir + "/shard-003-block-002.ptl", std::ios::binary) << "this is not a zip archive";
  rewrite_manifest_sha(dir, 3);
  auto model = open_local_model(dir, RuntimeOptions{});
  REQUIRE_FALSE(model.ok());
  CHECK_THAT(model.error(), Catch::Contains("not a loadable TorchScript"));
  fs::remove_all(dir);
}

TEST_CASE("EmptyModelFolderIsAnError", "[runtime][validation]") {
  fs::path dir = fs::temp_directory_path() / ("ll-test-empty-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto model = open_local_model(dir.string(), RuntimeOptions{});
  REQUIRE_FALSE(model.ok());
  CHECK_THAT(model.error(), Catch::Contains("no manifest.json"));
  fs::remove_all(dir);
}

TEST_CASE("HiddenStateOfTheWrongShapeIsRejected", "[runtime][validation]") {
  const std::string dir = test::model_dir("odd");
  auto manifest = load_manifest(dir);
  REQUIRE(manifest.ok());
  auto range = load_package_range(*manifest, dir, 1, 2, RuntimeOptions{});
  REQUIRE(range.ok());
  REQUIRE((*range)->open_session(1).ok());
  StepInput input;
  input.hidden.shape = {2, 95};
  input.hidden.values.assign(190, 0.0f);
  auto out = (*range)->forward(1, input);
  REQUIRE_FALSE(out.ok());
  CHECK_THAT(out.error(), Catch::Contains("shape"));
}

TEST_CASE("BatchedDecodeEqualsOneSessionAtATimeExactly", "[runtime][batch]") {
  LocalModel model = open_or_fail(test::model_dir("odd"));
  const std::vector<std::vector<int32_t>> prompts{{1, 40, 41}, {1, 290, 7, 8, 9}, {1, 100}};
  // Sessions 1..3 decode together; 11..13 alone. Both prefill the same prompts first.
  std::vector<uint64_t> batch_ids{1, 2, 3};
  std::vector<StepInput> steps(3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (uint64_t id : {batch_ids[i], batch_ids[i] + 10}) {
      REQUIRE(model.shards->open_session(id).ok());
      StepInput prefill;
      prefill.tokens = prompts[i];
      REQUIRE(model.shards->forward(id, prefill).ok());
    }
    steps[i].start_pos = static_cast<int>(prompts[i].size());
    steps[i].tokens = {static_cast<int32_t>(50 + i)};
  }
  for (int round = 0; round < 4; ++round) {
    auto batched = model.shards->forward_batch(batch_ids, steps);
    REQUIRE(batched.ok());
    REQUIRE(batched->size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      auto alone = model.shards->forward(batch_ids[i] + 10, steps[i]);
      REQUIRE(alone.ok());
      REQUIRE((*batched)[i].values.size() == alone->values.size());
      // Exactly equal, not merely close: a session's tokens must not depend on who shares its step.
      REQUIRE((*batched)[i].values == alone->values);
      steps[i].start_pos += 1;
    }
  }
}

TEST_CASE("BatchOfAMiddleRangeTakesHiddenStates", "[runtime][batch]") {
  const std::string dir = test::model_dir("odd");
  auto manifest = load_manifest(dir);
  REQUIRE(manifest.ok());
  auto range = load_package_range(*manifest, dir, 1, 2, RuntimeOptions{});
  REQUIRE(range.ok());
  const int dim = manifest->hparams.dim;
  std::vector<StepInput> steps(2);
  for (uint64_t id : {1, 2}) REQUIRE((*range)->open_session(id).ok());
  for (int i = 0; i < 2; ++i) {
    steps[i].hidden.shape = {1, dim};
    steps[i].hidden.values.assign(dim, 0.1f * (i + 1));
  }
  auto out = (*range)->forward_batch({1, 2}, steps);
  REQUIRE(out.ok());
  CHECK((*out)[0].shape == std::vector<int64_t>{1, dim});
  CHECK((*out)[0].values != (*out)[1].values);
  steps[1].tokens = {3, 4};  // a prefill cannot join a batch
  steps[1].hidden = Tensor32{};
  CHECK_FALSE((*range)->forward_batch({1, 2}, steps).ok());
}
