// The engine's pieces of speculative decoding over fakes: the n-gram drafter, the adaptive draft length, the
// verification of a drafted step, and a statistical check that a drafted step samples from the target's own
// distribution (a fake target of known logits). The real-model exactness tests are in
// test/unit/runtime/speculation_exact_test.cc.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "engine/generator.h"
#include "engine/ngram_drafter.h"
#include "engine/speculation.h"
#include "support/chi_square.h"

using namespace ll;

namespace {

std::vector<int32_t> ngram_draft(const std::vector<int32_t>& context, int k) {
  NgramDrafter drafter;
  auto draft = drafter.draft(1, context, k);
  REQUIRE(draft.ok());
  return std::move(draft).value();
}

// Logits rows, row-major, whose argmaxes are `best` (vocab 6).
std::vector<float> rows_with_argmax(const std::vector<int32_t>& best) {
  std::vector<float> logits;
  for (int32_t b : best) {
    for (int v = 0; v < 6; ++v) logits.push_back(v == b ? 3.0f : -0.1f * static_cast<float>(v));
  }
  return logits;
}

Result<Verdict> verify_draft_6(const std::vector<float>& logits, const std::vector<int32_t>& draft,
                               const Sampler& sampler, int first_position) {
  return verify_draft(logits, 6, draft, sampler, first_position);
}

// What the sequence of next() gives while every draft meets `accept(drafted)` accepted tokens.
template <typename Accept>
std::vector<int> draft_lengths(DraftLength& length, int steps, Accept accept) {
  std::vector<int> out;
  for (int i = 0; i < steps; ++i) {
    const int k = length.next();
    out.push_back(k);
    length.observe(k, accept(k));
  }
  return out;
}

}  // namespace

TEST_CASE("ChiSquareHelperGivesTheTabulatedPValues", "[engine][speculation]") {
  // The statistical tests below are only as good as this: chi-square tables, 1 and 10 degrees of freedom.
  CHECK(test::finish_chi_square(3.841, 2).p_value == Approx(0.05).margin(1e-4));
  CHECK(test::finish_chi_square(23.209, 11).p_value == Approx(0.01).margin(1e-4));
  CHECK(test::finish_chi_square(29.588, 11).p_value == Approx(0.001).margin(1e-5));
  CHECK(test::finish_chi_square(0.0, 4).p_value == Approx(1.0));
  std::map<int, int> skewed{{0, 700}, {1, 300}};
  CHECK(test::goodness_of_fit(skewed, {0.5, 0.5}).p_value < 1e-6);
  CHECK(test::homogeneity(skewed, {{0, 300}, {1, 700}}).p_value < 1e-6);
  CHECK(test::homogeneity(skewed, {{0, 702}, {1, 298}}).p_value > 0.5);
}

TEST_CASE("NgramDraftFollowsTheLatestEarlierOccurrence", "[engine][speculation][ngram]") {
  // [1 2] occurs at 1 and at 5: the later one's continuation (8 3 ...) is the draft, not the earlier's (7 9 ...).
  CHECK(ngram_draft({5, 1, 2, 7, 9, 1, 2, 8, 3, 1, 2}, 3) == std::vector<int32_t>{8, 3, 1});
}

TEST_CASE("NgramDraftPrefersALongerMatchToALaterShorterOne", "[engine][speculation][ngram]") {
  // The 3-gram [4 5 6] matches at 0 (continuation 10 11 9); the 1-gram [6] matches later, at 6 (continuation 12).
  CHECK(ngram_draft({4, 5, 6, 10, 11, 9, 6, 12, 4, 5, 6}, 3) == std::vector<int32_t>{10, 11, 9});
}

TEST_CASE("NgramDraftHasAtMostKTokensAndStopsAtTheEndOfTheText", "[engine][speculation][ngram]") {
  const std::vector<int32_t> text{1, 2, 3, 4, 5, 6, 7, 8, 1, 2};
  CHECK(ngram_draft(text, 4) == std::vector<int32_t>{3, 4, 5, 6});
  CHECK(ngram_draft(text, 1) == std::vector<int32_t>{3});
  CHECK(ngram_draft(text, 0).empty());
  // [7] last occurred just before the end: only the one token that followed it exists.
  CHECK(ngram_draft({7, 8, 7}, 5) == std::vector<int32_t>{8, 7});
}

TEST_CASE("NgramDraftIsEmptyWithoutARepeat", "[engine][speculation][ngram]") {
  CHECK(ngram_draft({1, 2, 3, 4, 5}, 4).empty());
  CHECK(ngram_draft({1}, 4).empty());
  CHECK(ngram_draft({}, 4).empty());
}

TEST_CASE("DraftLengthGrowsToItsMaximumWhileDraftsAreAccepted", "[engine][speculation][draft_length]") {
  DraftLength length(8);
  const std::vector<int> ks = draft_lengths(length, 30, [](int k) { return k; });
  CHECK(ks.front() > 0);  // a fresh session tries drafting
  for (size_t i = 1; i < ks.size(); ++i) CHECK(ks[i] >= ks[i - 1]);
  CHECK(ks.back() == 8);
  CHECK(length.acceptance() > 0.95);
}

TEST_CASE("DraftLengthFallsToZeroAndThenOnlyProbesForASessionThatNeverAccepts", "[engine][speculation][draft_length]") {
  DraftLength length(6);
  const std::vector<int> ks = draft_lengths(length, 200, [](int) { return 0; });
  // Off within a few steps (how many depends on kRowCost: the worse the rate, the sooner; never more than a probe
  // period)...
  const auto first_zero = std::find(ks.begin(), ks.end(), 0);
  REQUIRE(first_zero != ks.end());
  CHECK(first_zero - ks.begin() <= DraftLength::kProbeEvery);
  // ...then one drafted token every kProbeEvery steps, nothing else: the session costs almost nothing extra.
  std::vector<int> probes;
  for (auto it = first_zero; it != ks.end(); ++it) {
    CHECK(*it <= 1);
    if (*it == 1) probes.push_back(static_cast<int>(it - ks.begin()));
  }
  REQUIRE(probes.size() >= 8);
  for (size_t i = 1; i < probes.size(); ++i) CHECK(probes[i] - probes[i - 1] == DraftLength::kProbeEvery);
  const int drafted_after_off = std::accumulate(first_zero, ks.end(), 0);
  CHECK(drafted_after_off <= static_cast<int>(ks.end() - first_zero) / DraftLength::kProbeEvery + 1);
}

TEST_CASE("AnAcceptedProbeTurnsDraftingBackOn", "[engine][speculation][draft_length]") {
  DraftLength length(6);
  (void)draft_lengths(length, 40, [](int) { return 0; });
  int k = 0;
  for (int i = 0; i < 2 * DraftLength::kProbeEvery && k == 0; ++i) k = length.next();
  REQUIRE(k == 1);
  length.observe(1, 1);  // the text turned predictable
  CHECK(length.next() >= 1);
}

TEST_CASE("DraftLengthWithoutTokensNeverDraftsNorProbes", "[engine][speculation][draft_length]") {
  DraftLength length(0);
  for (int i = 0; i < 3 * DraftLength::kProbeEvery; ++i) CHECK(length.next() == 0);
}

TEST_CASE("VerifyAcceptsTheMatchingPrefixAndTakesTheTargetsTokenAtTheFirstMismatch", "[engine][speculation][verify]") {
  const Sampler greedy(SamplingParams{});
  auto v = verify_draft_6(rows_with_argmax({2, 3, 1, 0}), {2, 3, 4}, greedy, 10);
  REQUIRE(v.ok());
  CHECK(v->accepted == 2);
  CHECK(v->token == 1);
  auto first_wrong = verify_draft_6(rows_with_argmax({5, 3, 4, 0}), {2, 3, 4}, greedy, 10);
  REQUIRE(first_wrong.ok());
  CHECK(first_wrong->accepted == 0);  // the later rows agree, but they follow a rejected token
  CHECK(first_wrong->token == 5);
}

TEST_CASE("VerifyOfAWhollyAcceptedDraftGivesTheBonusToken", "[engine][speculation][verify]") {
  auto v = verify_draft_6(rows_with_argmax({2, 3, 4, 0}), {2, 3, 4}, Sampler(SamplingParams{}), 10);
  REQUIRE(v.ok());
  CHECK(v->accepted == 3);
  CHECK(v->token == 0);
  auto plain = verify_draft_6(rows_with_argmax({4}), {}, Sampler(SamplingParams{}), 10);
  REQUIRE(plain.ok());
  CHECK(plain->accepted == 0);
  CHECK(plain->token == 4);
}

TEST_CASE("VerifyRefusesLogitsOfTheWrongSize", "[engine][speculation][verify]") {
  const Sampler greedy(SamplingParams{});
  auto empty = verify_draft_6({}, {1, 2}, greedy, 0);
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error(), Catch::Contains("3 rows"));
  // Two rows of 6 for a draft of 3 divide evenly into 4 rows of 3: the vocabulary given tells them apart.
  CHECK_FALSE(verify_draft(rows_with_argmax({1, 2}), 6, {1, 2, 0}, greedy, 0).ok());
  std::vector<float> short_by_one = rows_with_argmax({1, 2, 3});
  short_by_one.pop_back();
  CHECK_FALSE(verify_draft_6(short_by_one, {1, 2}, greedy, 0).ok());
}

TEST_CASE("SampledVerificationDrawsEveryRowWithItsOwnPositionsSeed", "[engine][speculation][verify]") {
  // Row i chooses the token at first_position + i exactly as a decode step there would: a draft of those very
  // tokens is wholly accepted and the bonus is the next position's draw. A row drawn with another position's seed
  // breaks the chain within a few seeds.
  std::vector<float> logits;
  for (int row = 0; row < 5; ++row) {
    for (int v = 0; v < 6; ++v) logits.push_back(0.3f * static_cast<float>((v * 7 + row * 3) % 6));
  }
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Sampler sampler(SamplingParams{1.0f, 0, 1.0f, seed});
    std::vector<int32_t> expected;
    for (int row = 0; row < 5; ++row) {
      expected.push_back(
          sampler.sample(std::vector<float>(logits.begin() + row * 6, logits.begin() + row * 6 + 6), 20 + row));
    }
    auto v = verify_draft_6(logits, std::vector<int32_t>(expected.begin(), expected.begin() + 4), sampler, 20);
    REQUIRE(v.ok());
    CHECK(v->accepted == 4);
    CHECK(v->token == expected[4]);
  }
}

namespace {

// A llama2.c tokenizer blob: <unk> <s> </s>, 256 byte tokens, then "a".."z" (vocab 285).
Tokenizer byte_tokenizer() {
  std::string blob;
  auto put_i32 = [&](int32_t v) { blob.append(reinterpret_cast<const char*>(&v), 4); };
  std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int b = 0; b < 256; ++b) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "<0x%02X>", b);
    pieces.push_back(buffer);
  }
  for (char c = 'a'; c <= 'z'; ++c) pieces.push_back(std::string(1, c));
  put_i32(8);
  for (const auto& p : pieces) {
    put_i32(0);  // score 0.0f
    put_i32(static_cast<int32_t>(p.size()));
    blob += p;
  }
  auto tokenizer = Tokenizer::parse_llama2c(blob, static_cast<int32_t>(pieces.size()));
  REQUIRE(tokenizer.ok());
  return std::move(tokenizer).value();
}

constexpr int kVocab = 285;
constexpr int kLive = 8;  // tokens 259..266 carry the distribution; the rest are out of reach

// The target's logits for the token at `position`: a fixed shape rotated by the position, so that a row read for
// the wrong position samples from the wrong distribution.
std::vector<float> known_logits(int position) {
  static const float shape[kLive] = {2.0f, 1.4f, 1.1f, 0.6f, 0.2f, -0.4f, -1.0f, -2.5f};
  std::vector<float> logits(kVocab, -40.0f);
  for (int i = 0; i < kLive; ++i) logits[259 + (i + position) % kLive] = shape[i];
  return logits;
}

// What a sampler with `params` draws from `logits`, as probabilities (temperature, then the top-p nucleus).
std::vector<double> target_distribution(const std::vector<float>& logits, const SamplingParams& params) {
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  std::vector<double> p(logits.size(), 0.0);
  double total = 0;
  for (int t : order) total += p[t] = std::exp((logits[t] - logits[order[0]]) / params.temperature);
  double cumulative = 0, kept = 0;
  size_t cut = order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    cumulative += p[order[i]] / total;
    kept += p[order[i]];
    if (cumulative >= params.top_p) {
      cut = i + 1;
      break;
    }
  }
  std::vector<double> out(logits.size(), 0.0);
  for (size_t i = 0; i < cut; ++i) out[order[i]] = p[order[i]] / kept;
  return out;
}

// A whole model whose every row's logits are known_logits(the position its token predicts).
class KnownLogitsRange : public ShardRange {
 public:
  int first_shard() const override { return 0; }
  int last_shard() const override { return 0; }
  Status open_session(uint64_t) override { return Status::Ok(); }
  void close_session(uint64_t) override {}
  size_t open_sessions() const override { return 0; }
  Result<Tensor32> forward(uint64_t, const StepInput& input) override {
    const int steps = input.step_tokens();
    Tensor32 out;
    for (int r = steps - input.logit_rows; r < steps; ++r) {
      const std::vector<float> row = known_logits(input.start_pos + r + 1);
      out.values.insert(out.values.end(), row.begin(), row.end());
    }
    out.shape = input.logit_rows == 1 ? std::vector<int64_t>{kVocab} : std::vector<int64_t>{input.logit_rows, kVocab};
    return out;
  }
};

// Always drafts the one token x.
class FixedDrafter : public Drafter {
 public:
  explicit FixedDrafter(int32_t x) : x_(x) {}
  Result<std::vector<int32_t>> draft(uint64_t, const std::vector<int32_t>&, int k) override {
    return std::vector<int32_t>(static_cast<size_t>(std::max(k, 0)), x_);
  }
  std::string name() const override { return "fixed"; }

 private:
  int32_t x_;
};

}  // namespace

TEST_CASE("ADraftedStepSamplesTheTargetDistributionAndAcceptsWithTheTargetsProbability",
          "[engine][speculation][statistics]") {
  // Prompt of 3 tokens: the prefill samples position 3, then one step verifies the drafted x at position 4 and
  // yields position 5 (the bonus row when x stood, a plain decode step after it when x was rejected).
  Tokenizer tokenizer = byte_tokenizer();
  Manifest manifest;
  manifest.hparams.vocab_size = kVocab;
  manifest.hparams.context_length = 64;
  KnownLogitsRange target;
  Generator generator(manifest, tokenizer, target);
  const int32_t x = 264;  // the second most likely token at position 4
  FixedDrafter drafter(x);
  const SamplingParams sampled{0.8f, 0, 0.9f, 0};
  constexpr int kSeeds = 6000;
  std::map<int, int> at4, at5;
  int accepted = 0, drafted = 0;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    GenerateOptions options;
    options.max_tokens = 3;
    options.ignore_eos = true;
    options.sampling = sampled;
    options.sampling.seed = seed;
    options.speculation.mode = "ngram";  // any enabled mode: the drafter is the one passed in
    options.drafter = &drafter;
    auto r = generator.generate_tokens({1, 259, 261}, options, nullptr);
    REQUIRE(r.ok());
    REQUIRE(r->tokens.size() == 3);
    ++at4[r->tokens[1]];
    ++at5[r->tokens[2]];
    accepted += r->accepted;
    drafted += r->drafted;
  }
  REQUIRE(drafted == kSeeds);  // exactly one drafted token per generation, at position 4
  // Fixed seeds 0..5999: the outcome never changes from run to run. For a random set of seeds each chi-square check
  // would raise a false alarm with probability 0.001 and the acceptance check with probability 0.001 (|z| > 3.29).
  const auto fit4 = test::goodness_of_fit(at4, target_distribution(known_logits(4), sampled));
  const auto fit5 = test::goodness_of_fit(at5, target_distribution(known_logits(5), sampled));
  INFO("position 4: chi2 " << fit4.statistic << " df " << fit4.degrees << " p " << fit4.p_value);
  INFO("position 5: chi2 " << fit5.statistic << " df " << fit5.degrees << " p " << fit5.p_value);
  CHECK(fit4.p_value > 0.001);
  CHECK(fit5.p_value > 0.001);
  const double p_x = target_distribution(known_logits(4), sampled)[x];
  REQUIRE(p_x > 0.05);
  const double sigma = std::sqrt(p_x * (1 - p_x) / kSeeds);
  INFO("acceptance " << static_cast<double>(accepted) / kSeeds << ", p(x) " << p_x);
  CHECK(std::abs(static_cast<double>(accepted) / kSeeds - p_x) < 3.29 * sigma);
  CHECK(accepted == at4[x]);  // x stood exactly when the target drew x there
}
