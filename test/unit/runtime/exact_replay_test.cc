// Exact replay: a session's KV caches rebuilt by replay — after a re-plan, a lost stage or a lost head — must be
// bit for bit the caches of the undisturbed run, whatever the chunking of the replay, the batch the original decode
// steps shared, the rows they sat in, or where the model is split. On random512 (dim 512, 12 layers), big enough
// that a step's shape changes its rounding (a replay as one multi-row prefill does not pass these tests).
#include <catch2/catch.hpp>
#include <cstring>
#include <numeric>
#include <tuple>

#include "runtime/local_model.h"
#include "runtime/torch_runtime.h"
#include "support/paths.h"

using namespace ll;

namespace {

struct Undisturbed {
  std::vector<float> cache;   // positions [0, prompt + generated)
  std::vector<float> logits;  // the logits that sampled the next token
};

// How many values differ in their bits (a count, so a failure prints a number, not millions of floats).
size_t differing(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0 ? 1 : 0;
  return n;
}

std::vector<int32_t> some_tokens(size_t n, int32_t vocab, uint32_t seed) {
  std::vector<int32_t> out{1};
  for (size_t i = 1; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    out.push_back(3 + static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(vocab - 3)));
  }
  return out;
}

// The first run: the prompt as one prefill, then one decode step per token, each in a batch of `batch` sessions
// (the others are filler sessions, placed before ours so our row index moves).
Undisturbed first_run(ShardRange& model, const std::vector<int32_t>& tokens, size_t prompt, size_t batch) {
  const uint64_t id = 100;
  REQUIRE(model.open_session(id).ok());
  std::vector<uint64_t> fillers;
  for (size_t b = 1; b < batch; ++b) {
    fillers.push_back(200 + b);
    REQUIRE(model.open_session(fillers.back()).ok());
  }
  StepInput prefill;
  prefill.tokens.assign(tokens.begin(), tokens.begin() + static_cast<long>(prompt));
  auto out = model.forward(id, prefill);
  REQUIRE(out.ok());
  Undisturbed u;
  u.logits = out->values;
  for (size_t pos = prompt; pos < tokens.size(); ++pos) {
    std::vector<uint64_t> ids(fillers.begin(), fillers.begin() + static_cast<long>(pos % batch));
    ids.push_back(id);
    ids.insert(ids.end(), fillers.begin() + static_cast<long>(pos % batch), fillers.end());
    std::vector<StepInput> steps(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      steps[i].start_pos = static_cast<int>(pos);
      steps[i].tokens = {ids[i] == id ? tokens[pos] : static_cast<int32_t>(5 + i)};
    }
    auto outs = model.forward_batch(ids, steps);
    REQUIRE(outs.ok());
    u.logits = (*outs)[pos % batch].values;
  }
  auto cache = model.cache_snapshot(id, static_cast<int>(tokens.size()));
  REQUIRE(cache.ok());
  u.cache = std::move(cache).value();
  model.close_session(id);
  for (uint64_t f : fillers) model.close_session(f);
  return u;
}

// A replay: the prompt as its prefill, then the generated tokens as decode rows in chunks of the given sizes.
std::vector<float> replay(ShardRange& model, const std::vector<int32_t>& tokens, size_t prompt,
                          const std::vector<size_t>& chunks, std::vector<float>& logits) {
  const uint64_t id = 300;
  REQUIRE(model.open_session(id).ok());
  size_t pos = 0;
  size_t first = chunks.empty() ? tokens.size() - prompt : 0;  // no chunks: one step, prefill + every row
  StepInput step;
  step.tokens.assign(tokens.begin(), tokens.begin() + static_cast<long>(prompt + first));
  step.decode_rows = static_cast<int>(first);
  auto out = model.forward(id, step);
  REQUIRE(out.ok());
  logits = out->values;
  pos = prompt + first;
  for (size_t i = 0; pos < tokens.size(); ++i) {
    const size_t n = std::min(chunks[i % chunks.size()], tokens.size() - pos);
    StepInput rows;
    rows.start_pos = static_cast<int>(pos);
    rows.tokens.assign(tokens.begin() + static_cast<long>(pos), tokens.begin() + static_cast<long>(pos + n));
    rows.decode_rows = static_cast<int>(n);
    auto o = model.forward(id, rows);
    REQUIRE(o.ok());
    logits = o->values;
    pos += n;
  }
  auto cache = model.cache_snapshot(id, static_cast<int>(tokens.size()));
  REQUIRE(cache.ok());
  model.close_session(id);
  return std::move(cache).value();
}

}  // namespace

TEST_CASE("ReplayRebuildsTheUndisturbedCacheBitForBit", "[runtime][replay][random512]") {
  auto model = open_local_model(test::model_dir("random512"), RuntimeOptions{1});
  REQUIRE(model.ok());
  const int vocab = model->manifest.hparams.vocab_size;
  // (prompt length, sessions sharing each decode step of the first run)
  for (auto [prompt, batch] : std::vector<std::pair<size_t, size_t>>{{5, 3}, {23, 1}, {23, 8}}) {
    const auto tokens = some_tokens(prompt + 29, vocab, static_cast<uint32_t>(prompt));
    const Undisturbed u = first_run(*model->shards, tokens, prompt, batch);
    for (const auto& chunks : std::vector<std::vector<size_t>>{{}, {1}, {3}, {8}, {5, 13}}) {
      std::vector<float> logits;
      const std::vector<float> cache = replay(*model->shards, tokens, prompt, chunks, logits);
      INFO("prompt " << prompt << ", first run in batches of " << batch << ", replay chunks "
                     << (chunks.empty() ? 0 : chunks[0]));
      REQUIRE(cache.size() == u.cache.size());
      CHECK(differing(cache, u.cache) == 0);
      CHECK(differing(logits, u.logits) == 0);
    }
  }
}

TEST_CASE("LongReplayOverSeveralWideCallsOnTwoThreadsIsExact", "[runtime][replay][random512]") {
  // 150 generated tokens: a replay_rows call of 128 rows and a padded tail, with two intra-op threads (attention split
  // over kv heads, BLAS over rows), and on the odd model (grouped-query attention; small enough for OpenBLAS's
  // small-matrix kernels, so its replay multiplies 8 rows at a time) as well.
  for (const auto& [name, prompt, generated] :
       std::vector<std::tuple<std::string, size_t, size_t>>{{"random512", 5, 150}, {"odd", 3, 60}}) {
    auto model = open_local_model(test::model_dir(name), RuntimeOptions{2});
    REQUIRE(model.ok());
    const auto tokens = some_tokens(prompt + generated, model->manifest.hparams.vocab_size, 17);
    const Undisturbed u = first_run(*model->shards, tokens, prompt, 3);
    for (const auto& chunks : std::vector<std::vector<size_t>>{{}, {71}, {9}}) {
      std::vector<float> logits;
      const std::vector<float> cache = replay(*model->shards, tokens, prompt, chunks, logits);
      INFO(name << ", replay chunks " << (chunks.empty() ? 0 : chunks[0]));
      CHECK(differing(cache, u.cache) == 0);
      CHECK(differing(logits, u.logits) == 0);
    }
  }
}

TEST_CASE("ReplayAcrossASplitModelMatchesEachStagesCache", "[runtime][replay][random512]") {
  // Two stages, as in a cluster: the second sees hidden states, not tokens.
  const std::string dir = test::model_dir("random512");
  auto manifest = load_manifest(dir);
  REQUIRE(manifest.ok());
  const int last = static_cast<int>(manifest->shards.size()) - 1;
  auto front = load_package_range(*manifest, dir, 0, 6, RuntimeOptions{1});
  auto back = load_package_range(*manifest, dir, 7, last, RuntimeOptions{1});
  REQUIRE((front.ok() && back.ok()));
  const auto tokens = some_tokens(40, manifest->hparams.vocab_size, 7);
  const size_t prompt = 11;
  auto run = [&](uint64_t id, const std::vector<StepInput>& steps) {
    REQUIRE((*front)->open_session(id).ok());
    REQUIRE((*back)->open_session(id).ok());
    std::vector<float> logits;
    for (const StepInput& step : steps) {
      auto hidden = (*front)->forward(id, step);
      REQUIRE(hidden.ok());
      StepInput next;
      next.start_pos = step.start_pos;
      next.decode_rows = step.decode_rows;
      next.hidden = std::move(hidden).value();
      auto out = (*back)->forward(id, next);
      REQUIRE(out.ok());
      logits = out->values;
    }
    auto cache = (*back)->cache_snapshot(id, static_cast<int>(tokens.size()));
    REQUIRE(cache.ok());
    (*front)->close_session(id);
    (*back)->close_session(id);
    return std::make_pair(std::move(cache).value(), logits);
  };
  std::vector<StepInput> first(1), again(1);
  first[0].tokens.assign(tokens.begin(), tokens.begin() + prompt);
  for (size_t pos = prompt; pos < tokens.size(); ++pos) {
    StepInput decode;
    decode.start_pos = static_cast<int>(pos);
    decode.tokens = {tokens[pos]};
    first.push_back(decode);
  }
  again[0].tokens = tokens;
  again[0].decode_rows = static_cast<int>(tokens.size() - prompt);
  const auto undisturbed = run(1, first);
  const auto replayed = run(2, again);
  CHECK(differing(replayed.first, undisturbed.first) == 0);
  CHECK(differing(replayed.second, undisturbed.second) == 0);
}

TEST_CASE("DecodeRowsBeyondTheStepAreRejected", "[runtime][replay][validation]") {
  auto model = open_local_model(test::model_dir("odd"), RuntimeOptions{1});
  REQUIRE(model.ok());
  REQUIRE(model->shards->open_session(1).ok());
  StepInput step;
  step.tokens = {1, 2, 3};
  step.decode_rows = 4;
  auto out = model->shards->forward(1, step);
  REQUIRE_FALSE(out.ok());
  CHECK_THAT(out.error(), Catch::Contains("decode_rows"));
}

TEST_CASE("ARangeReusingTheShardsOfThePreviousPlanComputesAsAFreshLoad", "[runtime][reuse]") {
  // A re-plan that moves a boundary shares the modules a device already holds instead of reading them again.
  const std::string dir = test::model_dir("odd");
  auto manifest = load_manifest(dir);
  REQUIRE(manifest.ok());
  const int last = static_cast<int>(manifest->shards.size()) - 1;
  auto before = load_package_range(*manifest, dir, 0, 2, RuntimeOptions{1});
  REQUIRE(before.ok());
  int asked = 0;
  auto reused = load_shard_range(
      *manifest, 0, last,
      [&](const ShardInfo& s) {
        ++asked;
        return dir + "/" + s.file;
      },
      RuntimeOptions{1}, before->get());
  auto fresh = load_package_range(*manifest, dir, 0, last, RuntimeOptions{1});
  REQUIRE((reused.ok() && fresh.ok()));
  CHECK(asked == last - 2);  // only the shards the previous range lacked were read
  StepInput step;
  step.tokens = {1, 40, 41, 290};
  for (ShardRange* range : {reused->get(), fresh->get()}) REQUIRE(range->open_session(1).ok());
  auto a = (*reused)->forward(1, step);
  auto b = (*fresh)->forward(1, step);
  REQUIRE((a.ok() && b.ok()));
  CHECK(differing(a->values, b->values) == 0);
}
