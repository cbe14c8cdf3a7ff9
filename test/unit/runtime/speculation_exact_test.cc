// Speculative decoding on the real models (stories260K, and random512, big enough that a step's shape changes its
// rounding): the tokens are exactly the tokens of plain decoding, greedy and sampled, whatever the drafter proposes
// (n-gram, always wrong, random, always right); a speculative run leaves the KV cache plain decoding leaves, bit
// for bit, although rejected rows were written into it; a batch mixing one-token and drafted steps of several
// sessions gives each its lone logits; and sampled speculative output has plain sampling's distribution.
#include <catch2/catch.hpp>
#include <cstring>
#include <map>

#include "engine/generator.h"
#include "engine/ngram_drafter.h"
#include "engine/speculation.h"
#include "runtime/local_model.h"
#include "support/chi_square.h"
#include "support/packages.h"

using namespace ll;
using test::open_or_fail;

namespace {

// How many values differ in their bits (a count, so a failure prints a number, not millions of floats).
size_t differing(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return std::max(a.size(), b.size());
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0 ? 1 : 0;
  return n;
}

// Drafters of the true continuation (`truth`: prompt and generated tokens of the plain run). The oracle proposes
// it; the adversary proposes a wrong token at every drafted position, so every drafted step rolls back.
class TruthDrafter : public Drafter {
 public:
  TruthDrafter(std::vector<int32_t> truth, bool wrong, int32_t vocab)
      : truth_(std::move(truth)), wrong_(wrong), vocab_(vocab) {}
  Result<std::vector<int32_t>> draft(uint64_t, const std::vector<int32_t>& context, int k) override {
    std::vector<int32_t> out;
    for (size_t pos = context.size(); out.size() < static_cast<size_t>(std::max(k, 0)); ++pos) {
      if (pos >= truth_.size()) {
        if (!wrong_) break;
        out.push_back(3);
        continue;
      }
      out.push_back(wrong_ ? (truth_[pos] + 1) % vocab_ : truth_[pos]);
    }
    return out;
  }
  std::string name() const override { return wrong_ ? "adversary" : "oracle"; }

 private:
  std::vector<int32_t> truth_;
  bool wrong_;
  int32_t vocab_;
};

// Random drafts of random length, from a seeded LCG (the same every run).
class RandomDrafter : public Drafter {
 public:
  RandomDrafter(uint32_t seed, int32_t vocab) : state_(seed), vocab_(vocab) {}
  Result<std::vector<int32_t>> draft(uint64_t, const std::vector<int32_t>&, int k) override {
    std::vector<int32_t> out(k > 0 ? next() % static_cast<uint32_t>(k + 1) : 0);
    for (auto& t : out) t = static_cast<int32_t>(next() % static_cast<uint32_t>(vocab_));
    return out;
  }
  std::string name() const override { return "random"; }

 private:
  uint32_t next() {
    state_ = state_ * 1664525u + 1013904223u;
    return state_ >> 8;
  }
  uint32_t state_;
  int32_t vocab_;
};

GenerationResult generate(LocalModel& model, const std::vector<int32_t>& prompt, const SamplingParams& sampling,
                          int max_tokens, Drafter* drafter, int draft_tokens = kDefaultDraftTokens) {
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  GenerateOptions options;
  options.max_tokens = max_tokens;
  options.ignore_eos = true;  // long runs: more steps, more rollbacks
  options.sampling = sampling;
  if (drafter) {
    options.speculation.mode = "ngram";
    options.speculation.draft_tokens = draft_tokens;
    options.drafter = drafter;
  }
  auto result = generator.generate_tokens(prompt, options, nullptr);
  REQUIRE(result.ok());
  return std::move(result).value();
}

std::string describe(const SamplingParams& s) {
  return s.temperature == 0 ? std::string("greedy") : "sampled, seed " + std::to_string(s.seed);
}

// Every drafter against the plain run of each sampling setting: the same tokens, and the drafters did draft.
void check_every_drafter(const std::string& package, const std::string& text, int max_tokens,
                         const std::vector<SamplingParams>& samplings) {
  LocalModel model = open_or_fail(test::model_dir(package));
  const int32_t vocab = model.manifest.hparams.vocab_size;
  const std::vector<int32_t> prompt = prompt_tokens(model.tokenizer, text);
  for (const SamplingParams& sampling : samplings) {
    INFO(package << ", " << describe(sampling));
    const GenerationResult plain = generate(model, prompt, sampling, max_tokens, nullptr);
    REQUIRE(static_cast<int>(plain.tokens.size()) == max_tokens);
    CHECK(plain.drafted == 0);
    std::vector<int32_t> truth = prompt;
    truth.insert(truth.end(), plain.tokens.begin(), plain.tokens.end());

    NgramDrafter ngram;
    const GenerationResult by_ngram = generate(model, prompt, sampling, max_tokens, &ngram);
    CHECK(by_ngram.tokens == plain.tokens);
    CHECK(by_ngram.drafted > 0);

    TruthDrafter adversary(truth, /*wrong=*/true, vocab);
    const GenerationResult by_adversary = generate(model, prompt, sampling, max_tokens, &adversary);
    CHECK(by_adversary.tokens == plain.tokens);
    CHECK(by_adversary.drafted > 0);
    CHECK(by_adversary.accepted == 0);

    RandomDrafter random(static_cast<uint32_t>(sampling.seed) + 17, vocab);
    const GenerationResult by_random = generate(model, prompt, sampling, max_tokens, &random);
    CHECK(by_random.tokens == plain.tokens);
    CHECK(by_random.drafted > 0);

    TruthDrafter oracle(truth, /*wrong=*/false, vocab);
    const GenerationResult by_oracle = generate(model, prompt, sampling, max_tokens, &oracle, kMaxDraftTokens);
    CHECK(by_oracle.tokens == plain.tokens);
    // Every drafted row's logits chose what its decode step chose: nothing rejected, long runs per step.
    CHECK(by_oracle.accepted == by_oracle.drafted);
    CHECK(by_oracle.decode_steps <= max_tokens / 4);
  }
}

// A speculative run driven step by step with a fixed K (no adaptation: every step drafts, so a wrong drafter rolls
// back every step), keeping the session open to read its cache. No drafter: plain decoding.
struct DrivenRun {
  std::vector<int32_t> tokens;  // generated
  std::vector<float> cache;     // positions [0, prompt + generated - 1): every position a later token attended to
  int steps = 0;
  int accepted = 0;
};

DrivenRun drive(ShardRange& model, const std::vector<int32_t>& prompt, const Sampler& sampler, Drafter* drafter, int k,
                int max_tokens) {
  const uint64_t session = 77;
  REQUIRE(model.open_session(session).ok());
  StepInput step;
  step.tokens = prompt;
  auto first = model.forward(session, step);
  REQUIRE(first.ok());
  DrivenRun run;
  std::vector<int32_t> context = prompt;
  run.tokens.push_back(sampler.sample(first->values, static_cast<int>(prompt.size())));
  context.push_back(run.tokens.back());
  while (static_cast<int>(run.tokens.size()) < max_tokens) {
    const int last = static_cast<int>(context.size()) - 1;  // the position of the token this step feeds
    std::vector<int32_t> draft;
    if (drafter) {
      const int room = max_tokens - static_cast<int>(run.tokens.size()) - 1;
      auto d = drafter->draft(session, context, std::min(k, room));
      REQUIRE(d.ok());
      draft = std::move(d).value();
    }
    step = StepInput{};
    step.start_pos = last;
    step.tokens.assign(1, context.back());
    step.tokens.insert(step.tokens.end(), draft.begin(), draft.end());
    step.decode_rows = draft.empty() ? 0 : step.step_tokens();
    step.logit_rows = static_cast<int>(draft.size()) + 1;
    auto logits = model.forward(session, step);
    REQUIRE(logits.ok());
    ++run.steps;
    auto verdict = verify_draft(logits->values, static_cast<int>(logits->shape.back()), draft, sampler, last + 1);
    REQUIRE(verdict.ok());
    run.accepted += verdict->accepted;
    for (int i = 0; i < verdict->accepted; ++i) run.tokens.push_back(draft[static_cast<size_t>(i)]);
    run.tokens.push_back(verdict->token);
    context.assign(prompt.begin(), prompt.end());
    context.insert(context.end(), run.tokens.begin(), run.tokens.end());
  }
  auto cache = model.cache_snapshot(session, static_cast<int>(context.size()) - 1);
  REQUIRE(cache.ok());
  run.cache = std::move(cache).value();
  model.close_session(session);
  return run;
}

void check_cache_after_rollbacks(const std::string& package, const std::string& text, int max_tokens) {
  LocalModel model = open_or_fail(test::model_dir(package));
  const int32_t vocab = model.manifest.hparams.vocab_size;
  const std::vector<int32_t> prompt = prompt_tokens(model.tokenizer, text);
  for (const SamplingParams& sampling : {SamplingParams{}, SamplingParams{0.8f, 0, 0.9f, 5}}) {
    const Sampler sampler(sampling);
    const DrivenRun plain = drive(*model.shards, prompt, sampler, nullptr, 0, max_tokens);
    REQUIRE(static_cast<int>(plain.tokens.size()) == max_tokens);
    std::vector<int32_t> truth = prompt;
    truth.insert(truth.end(), plain.tokens.begin(), plain.tokens.end());
    TruthDrafter adversary(truth, true, vocab), oracle(truth, false, vocab);
    RandomDrafter random(3, vocab);
    NgramDrafter ngram;
    const std::vector<std::pair<Drafter*, int>> drafters{
        {&adversary, 5}, {&random, 7}, {&ngram, 4}, {&oracle, kMaxDraftTokens}};
    for (auto [drafter, k] : drafters) {
      INFO(package << ", " << describe(sampling) << ", " << drafter->name() << ", K " << k);
      const DrivenRun run = drive(*model.shards, prompt, sampler, drafter, k, max_tokens);
      CHECK(run.tokens == plain.tokens);
      CHECK(differing(run.cache, plain.cache) == 0);
      if (drafter == &adversary) CHECK(run.accepted == 0);
      if (drafter == &oracle) CHECK(run.steps < plain.steps / 8);
    }
  }
}

// Four sessions, each stepped alone (forward) and in batches (forward_batch) with the same steps: per round, each
// session's step is one token or the last token plus a draft (all decode rows, logits of every row), and the second
// round starts each session where verification would have left it (after a rollback, or after a whole draft).
void check_mixed_batch(const std::string& package) {
  LocalModel model = open_or_fail(test::model_dir(package));
  ShardRange& shards = *model.shards;
  struct Session {
    std::vector<int32_t> prompt;
    std::vector<int> rows;     // rows of the step in round 0 and round 1 (1: a plain decode step)
    std::vector<int> advance;  // where round 1 starts, after round 0's start
  };
  const std::vector<Session> sessions{
      {{1, 40, 41, 42, 43, 44, 45}, {1, 7}, {1}},
      {{1, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60}, {5, 4}, {2}},  // 1 of 4 drafted tokens accepted
      {{1, 70, 71}, {1, 1}, {1}},
      {{1, 80, 81, 82, 83, 84, 85, 86, 87}, {3, 1}, {3}},  // the whole draft of 2 accepted
  };
  auto step_of = [&](const Session& s, int round) {
    StepInput step;
    step.start_pos = static_cast<int>(s.prompt.size()) + (round == 0 ? 0 : s.advance[0]);
    for (int r = 0; r < s.rows[static_cast<size_t>(round)]; ++r) step.tokens.push_back(100 + 13 * r + step.start_pos);
    const int rows = step.step_tokens();
    step.decode_rows = rows == 1 ? 0 : rows;
    step.logit_rows = rows;
    return step;
  };
  std::vector<std::vector<Tensor32>> alone(sessions.size());
  std::vector<std::vector<float>> alone_cache;
  for (size_t i = 0; i < sessions.size(); ++i) {
    REQUIRE(shards.open_session(500 + i).ok());
    StepInput prefill;
    prefill.tokens = sessions[i].prompt;
    REQUIRE(shards.forward(500 + i, prefill).ok());
    for (int round = 0; round < 2; ++round) {
      auto out = shards.forward(500 + i, step_of(sessions[i], round));
      REQUIRE(out.ok());
      alone[i].push_back(std::move(out).value());
    }
    const StepInput last = step_of(sessions[i], 1);
    auto cache = shards.cache_snapshot(500 + i, last.start_pos + last.step_tokens());
    REQUIRE(cache.ok());
    alone_cache.push_back(std::move(cache).value());
    shards.close_session(500 + i);
  }
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < sessions.size(); ++i) {
    ids.push_back(600 + i);
    REQUIRE(shards.open_session(ids.back()).ok());
    StepInput prefill;
    prefill.tokens = sessions[i].prompt;
    REQUIRE(shards.forward(ids.back(), prefill).ok());
  }
  for (int round = 0; round < 2; ++round) {
    std::vector<StepInput> steps;
    for (const Session& s : sessions) steps.push_back(step_of(s, round));
    auto outs = shards.forward_batch(ids, steps);
    REQUIRE(outs.ok());
    REQUIRE(outs->size() == sessions.size());
    for (size_t i = 0; i < sessions.size(); ++i) {
      INFO(package << ", round " << round << ", session " << i << " (" << steps[i].step_tokens() << " rows)");
      CHECK((*outs)[i].shape == alone[i][static_cast<size_t>(round)].shape);
      CHECK(differing((*outs)[i].values, alone[i][static_cast<size_t>(round)].values) == 0);
    }
  }
  for (size_t i = 0; i < sessions.size(); ++i) {
    const StepInput last = step_of(sessions[i], 1);
    auto cache = shards.cache_snapshot(ids[i], last.start_pos + last.step_tokens());
    REQUIRE(cache.ok());
    CHECK(differing(*cache, alone_cache[i]) == 0);
    shards.close_session(ids[i]);
  }
}

const char* const kRepetitive =
    "Once upon a time, there was a little cat. The little cat liked to play. The little cat liked to play with a "
    "ball. The little cat";

}  // namespace

TEST_CASE("SpeculativeOutputIsPlainOutputOnStories260KWhateverTheDrafter", "[runtime][speculation]") {
  check_every_drafter("stories260K", kRepetitive, 160,
                      {SamplingParams{}, SamplingParams{0.8f, 0, 0.9f, 1}, SamplingParams{0.8f, 0, 0.9f, 2},
                       SamplingParams{0.8f, 0, 0.9f, 3}});
}

TEST_CASE("SpeculativeOutputIsPlainOutputOnRandom512WhateverTheDrafter", "[runtime][speculation][random512]") {
  check_every_drafter("random512", kRepetitive, 40, {SamplingParams{}, SamplingParams{0.8f, 0, 0.9f, 4}});
}

TEST_CASE("RolledBackDraftsLeaveTheCacheOfPlainDecodingBitForBit", "[runtime][speculation]") {
  check_cache_after_rollbacks("stories260K", kRepetitive, 64);
}

TEST_CASE("RolledBackDraftsLeaveTheCacheOfPlainDecodingBitForBitOnRandom512", "[runtime][speculation][random512]") {
  check_cache_after_rollbacks("random512", kRepetitive, 28);
}

TEST_CASE("BatchOfPlainAndDraftedStepsGivesEverySessionItsLoneLogits", "[runtime][speculation]") {
  check_mixed_batch("stories260K");
}

TEST_CASE("BatchOfPlainAndDraftedStepsGivesEverySessionItsLoneLogitsOnRandom512", "[runtime][speculation][random512]") {
  check_mixed_batch("random512");
}

TEST_CASE("SpeculativeSamplingKeepsPlainSamplingsDistributionOnStories260K", "[runtime][speculation][statistics]") {
  // Token frequencies at a few generated positions: speculative sampling (n-gram drafts) with seeds 0..N-1 against
  // plain sampling with seeds N..2N-1, a two-sample chi-square homogeneity test per position at significance 0.001.
  // The seeds are fixed, so the outcome never changes; for a random choice of seeds the three checks together would
  // raise a false alarm with probability about 0.003.
  LocalModel model = open_or_fail(test::model_dir("stories260K"));
  const std::vector<int32_t> prompt = prompt_tokens(model.tokenizer, kRepetitive);
  constexpr int kSeeds = 600;
  const std::vector<size_t> positions{1, 4, 8};
  std::vector<std::map<int, int>> speculative(positions.size()), plain(positions.size());
  int drafted = 0, accepted = 0;
  NgramDrafter ngram;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    const GenerationResult s = generate(model, prompt, SamplingParams{1.0f, 0, 1.0f, seed}, 9, &ngram);
    const GenerationResult p = generate(model, prompt, SamplingParams{1.0f, 0, 1.0f, kSeeds + seed}, 9, nullptr);
    drafted += s.drafted;
    accepted += s.accepted;
    for (size_t i = 0; i < positions.size(); ++i) {
      ++speculative[i][s.tokens[positions[i]]];
      ++plain[i][p.tokens[positions[i]]];
    }
  }
  INFO("drafted " << drafted << ", accepted " << accepted);
  CHECK(accepted > kSeeds / 4);  // the prompt's repeats were drafted and stood: the check exercised speculation
  for (size_t i = 0; i < positions.size(); ++i) {
    const test::ChiSquare h = test::homogeneity(speculative[i], plain[i]);
    INFO("generated token " << positions[i] << ": chi2 " << h.statistic << ", df " << h.degrees << ", p " << h.p_value
                            << ", " << speculative[i].size() << " distinct tokens");
    CHECK(h.degrees >= 2);  // a distribution, not one certain token
    CHECK(h.p_value > 0.001);
  }
}
