// Int8 packages in the libtorch engine: stories260K exported with --quantize int8 loads and generates; a decode
// row's numbers never depend on the other sessions of its step nor on its row (per-row activation quantization);
// a package mixing weight types or naming only engines this runtime lacks is refused with a one-line error.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "engine/generator.h"
#include "runtime/local_model.h"
#include "runtime/quantized.h"
#include "support/packages.h"
#include "support/paths.h"

namespace fs = std::filesystem;
using namespace ll;
using test::copy_package;
using test::open_or_fail;

namespace {

nlohmann::json read_manifest(const std::string& dir) {
  std::ifstream in(dir + "/manifest.json");
  return nlohmann::json::parse(in);
}

Tensor32 prefill_then_decode(ShardRange& shards, uint64_t id, const std::vector<int32_t>& prompt, int32_t next) {
  REQUIRE(shards.open_session(id).ok());
  StepInput prefill;
  prefill.tokens = prompt;
  REQUIRE(shards.forward(id, prefill).ok());
  StepInput step;
  step.start_pos = static_cast<int>(prompt.size());
  step.tokens = {next};
  auto out = shards.forward(id, step);
  REQUIRE(out.ok());
  return *out;
}

}  // namespace

TEST_CASE("Int8Stories260KLoadsAndGenerates", "[runtime][int8]") {
  LocalModel model = open_or_fail(test::model_dir("stories260K-int8"));
  CHECK(model.manifest.weight_dtype == "int8");
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  GenerateOptions options;
  options.max_tokens = 100;
  auto result = generator.generate("", options, nullptr);
  REQUIRE(result.ok());
  // int8 keeps the fp32 known answer's opening (the accuracy figures are test/integration/int8_accuracy.sh's)
  CHECK(result->text.rfind("Once upon a time, there was a little girl named Lily.", 0) == 0);
  CHECK(model.shards->open_sessions() == 0);
  REQUIRE(quantized_engine().ok());
}

TEST_CASE("Int8DecodeRowIsBitIdenticalWhateverItsBatchAndRow", "[runtime][int8][batch]") {
  LocalModel model = open_or_fail(test::model_dir("stories260K-int8"));
  const std::vector<int32_t> prompt{1, 403, 407, 261};
  const Tensor32 alone = prefill_then_decode(*model.shards, 100, prompt, 378);
  // The same session state at row 5 of a batch of 11 (two chunks of kDecodeRows), among unlike sessions.
  std::vector<uint64_t> ids;
  std::vector<StepInput> steps;
  for (uint64_t i = 0; i < 11; ++i) {
    const uint64_t id = 200 + i;
    std::vector<int32_t> p = i == 5 ? prompt : std::vector<int32_t>{1, static_cast<int32_t>(300 + 17 * i)};
    if (i % 3 == 1) p.push_back(static_cast<int32_t>(260 + i));
    REQUIRE(model.shards->open_session(id).ok());
    StepInput prefill;
    prefill.tokens = p;
    REQUIRE(model.shards->forward(id, prefill).ok());
    StepInput step;
    step.start_pos = static_cast<int>(p.size());
    step.tokens = {i == 5 ? 378 : static_cast<int32_t>(270 + 11 * i)};
    ids.push_back(id);
    steps.push_back(step);
  }
  auto batched = model.shards->forward_batch(ids, steps);
  REQUIRE(batched.ok());
  REQUIRE((*batched)[5].values == alone.values);  // exactly, not merely close
  CHECK((*batched)[4].values != alone.values);
}

TEST_CASE("Int8PackageMixingFloat32ShardIsRefused", "[runtime][int8][validation]") {
  const std::string dir = copy_package("stories260K-int8", "int8-mixed");
  nlohmann::json m = read_manifest(dir);
  const std::string file = m["shards"][3]["file"];
  fs::copy_file(test::model_dir("stories260K") + "/" + file, dir + "/" + file, fs::copy_options::overwrite_existing);
  m["shards"][3]["sha256"] = sha256_file_hex(dir + "/" + file).value();
  m["shards"][3]["file_bytes"] = fs::file_size(dir + "/" + file);
  std::ofstream(dir + "/manifest.json") << m.dump();
  auto model = open_local_model(dir, RuntimeOptions{1});
  REQUIRE_FALSE(model.ok());
  CHECK_THAT(model.error(), Catch::Contains(file) && Catch::Contains("holds float32 weights in a package of int8"));
  CHECK(model.error().find('\n') == std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("Int8PackageNamingAnEngineThisRuntimeLacksIsRefused", "[runtime][int8][validation]") {
  const std::string dir = copy_package("stories260K-int8", "int8-engine");
  nlohmann::json m = read_manifest(dir);
  m["quantized_engines"] = {"fbgemm"};
  std::ofstream(dir + "/manifest.json") << m.dump();
  auto model = open_local_model(dir, RuntimeOptions{1});
  REQUIRE_FALSE(model.ok());
  CHECK_THAT(model.error(), Catch::Contains("quantized engine(s) fbgemm") && Catch::Contains("this runtime uses"));
  fs::remove_all(dir);
}

TEST_CASE("Int8ReplayRebuildsTheUndisturbedCacheBitForBit", "[runtime][int8][replay]") {
  LocalModel model = open_or_fail(test::model_dir("stories260K-int8"));
  ShardRange& shards = *model.shards;
  const std::vector<int32_t> tokens{1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338};
  const size_t prompt = 5;
  // The first run: a prefill, then one decode step per token in a batch of 3 whose other rows are filler sessions
  // (our row moves from step to step).
  REQUIRE(shards.open_session(1).ok());
  for (uint64_t filler : {2, 3}) REQUIRE(shards.open_session(filler).ok());
  StepInput prefill;
  prefill.tokens.assign(tokens.begin(), tokens.begin() + prompt);
  REQUIRE(shards.forward(1, prefill).ok());
  std::vector<float> first_logits;
  for (size_t pos = prompt; pos < tokens.size(); ++pos) {
    std::vector<uint64_t> ids{2, 3};
    ids.insert(ids.begin() + static_cast<long>(pos % 3), 1);
    std::vector<StepInput> steps(3);
    for (size_t i = 0; i < 3; ++i) {
      steps[i].start_pos = static_cast<int>(pos);
      steps[i].tokens = {ids[i] == 1 ? tokens[pos] : static_cast<int32_t>(40 + 7 * i + pos)};
    }
    auto out = shards.forward_batch(ids, steps);
    REQUIRE(out.ok());
    first_logits = (*out)[pos % 3].values;
  }
  auto first_cache = shards.cache_snapshot(1, static_cast<int>(tokens.size()));
  REQUIRE(first_cache.ok());
  // The replay: the prompt as its prefill and every generated token as a decode row, in one step.
  REQUIRE(shards.open_session(9).ok());
  StepInput replay;
  replay.tokens = tokens;
  replay.decode_rows = static_cast<int>(tokens.size() - prompt);
  auto replayed = shards.forward(9, replay);
  REQUIRE(replayed.ok());
  auto replay_cache = shards.cache_snapshot(9, static_cast<int>(tokens.size()));
  REQUIRE(replay_cache.ok());
  CHECK(*replay_cache == *first_cache);  // bit for bit
  // The replay's last logits predict the token after the last one; the first run's last step predicted it too.
  CHECK(replayed->values == first_logits);
}
