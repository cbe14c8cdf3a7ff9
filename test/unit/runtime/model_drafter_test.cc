// The draft-model drafter (engine/model_drafter.h, runtime/drafters.h) on real draft packages, exported in the test
// from the same sources as the test models (scripts/export-model --draft-layers): its drafts are the draft model's
// own greedy continuation, a session rolled back to a prefix drafts as a fresh one, its sessions are bounded, a draft
// package of another tokenizer is refused, and local generation with it is token for token the output without it,
// greedy and sampled, on stories260K and random512.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/generator.h"
#include "engine/model_drafter.h"
#include "runtime/drafters.h"
#include "runtime/local_model.h"
#include "support/packages.h"
#include "support/paths.h"

using namespace ll;

namespace {

// The sources of the test models (scripts/make-test-models), as export-model arguments.
std::string stories_source() {
  const std::string models = test::shared_models_dir();
  return "--from llama2c " + models + "/stories260K.bin --tokenizer " + models + "/tok512.bin";
}
const char* kRandom512Source = "--synthetic stories42M,n_layers=12,vocab_size=512,context_length=512 --seed 5";

// Draft packages exported by this process, removed when it exits (random512's exit11 is 140 MB).
struct ExportedPackages {
  std::map<std::string, std::string> folders;
  ~ExportedPackages() {
    std::error_code ignored;
    for (const auto& entry : folders) std::filesystem::remove_all(entry.second, ignored);
  }
};

// A draft package of `layers` early-exit layers, exported once per process into the temporary folder.
std::string draft_package(const std::string& tag, const std::string& source, int layers) {
  static ExportedPackages packages;
  std::map<std::string, std::string>& exported = packages.folders;
  const std::string key = tag + "-exit" + std::to_string(layers);
  if (auto it = exported.find(key); it != exported.end()) return it->second;
  const std::string out =
      (std::filesystem::temp_directory_path() / ("ll-test-draft-" + key + "-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(out);
  const std::string command = "/usr/bin/python3 " + test::source_dir() + "/scripts/export-model --quiet " + source +
                              " --draft-layers " + std::to_string(layers) + " --out " + out;
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
  exported[key] = out;
  return out;
}

std::unique_ptr<ModelDrafter> drafter_over(const std::string& package, int max_sessions = 8) {
  LocalModel model = test::open_or_fail(package);
  return std::make_unique<ModelDrafter>(std::shared_ptr<ShardRange>(std::move(model.shards)), model.manifest.name,
                                        model.manifest.hparams.context_length, max_sessions);
}

// The model's own greedy continuation of `prompt`, `n` tokens, EOS or not.
std::vector<int32_t> greedy_continuation(LocalModel& model, const std::vector<int32_t>& prompt, int n) {
  Generator generator(model.manifest, model.tokenizer, *model.shards);
  GenerateOptions options;
  options.max_tokens = n;
  options.ignore_eos = true;
  options.prefill_chunk = 0;  // the prompt in one step, as the drafter catches up
  auto result = generator.generate_tokens(prompt, options, nullptr);
  REQUIRE(result.ok());
  return result->tokens;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b, size_t b_count) {
  a.insert(a.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(std::min(b_count, b.size())));
  return a;
}

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378};  // "Once upon a time"

}  // namespace

TEST_CASE("DraftOtherThanTheDraftModelsGreedyContinuationIsCaught", "[drafter]") {
  const std::string package = draft_package("stories260K", stories_source(), 2);
  LocalModel draft_model = test::open_or_fail(package);
  const std::vector<int32_t> expected = greedy_continuation(draft_model, kPrompt, 16);
  auto drafter = drafter_over(package);
  CHECK(drafter->name() == "draft:stories260K-exit2");
  auto first = drafter->draft(7, kPrompt, 8);
  REQUIRE(first.ok());
  CHECK(*first == std::vector<int32_t>(expected.begin(), expected.begin() + 8));
  // The session's context grew by the whole draft: only its last token is caught up, and the draft goes on.
  auto second = drafter->draft(7, concat(kPrompt, expected, 8), 8);
  REQUIRE(second.ok());
  CHECK(*second == std::vector<int32_t>(expected.begin() + 8, expected.end()));
}

TEST_CASE("StaleCachePastARolledBackPrefixIsNotAttendedTo", "[drafter]") {
  const std::string package = draft_package("stories260K", stories_source(), 3);
  LocalModel target = test::open_or_fail(test::model_dir("stories260K"));
  const std::vector<int32_t> story = greedy_continuation(target, kPrompt, 24);
  auto drafter = drafter_over(package);
  // Session 1 drafts after 20 tokens of the story, then the target "rejects" back to 6 tokens and goes elsewhere: the
  // cache holds other tokens past the prefix, which must not be attended to.
  REQUIRE(drafter->draft(1, concat(kPrompt, story, 20), 6).ok());
  std::vector<int32_t> rolled_back = concat(kPrompt, story, 6);
  for (int32_t t : {300, 301, 420}) rolled_back.push_back(t);
  auto after_rollback = drafter->draft(1, rolled_back, 6);
  auto fresh = drafter->draft(2, rolled_back, 6);
  REQUIRE(after_rollback.ok());
  REQUIRE(fresh.ok());
  CHECK(after_rollback->size() == 6);
  CHECK(*after_rollback == *fresh);
  // The same context again (a prefix of what the cache holds now) drafts the same.
  auto again = drafter->draft(1, rolled_back, 6);
  REQUIRE(again.ok());
  CHECK(*again == *fresh);
}

TEST_CASE("DraftRunningPastTheContextLengthIsCut", "[drafter]") {
  const std::string package = draft_package("stories260K", stories_source(), 1);
  auto drafter = drafter_over(package);
  const int context_length = test::open_or_fail(package).manifest.hparams.context_length;
  std::vector<int32_t> context(static_cast<size_t>(context_length - 2), 300);
  context[0] = 1;
  auto near_end = drafter->draft(1, context, 6);
  REQUIRE(near_end.ok());
  CHECK(near_end->size() == 2);  // positions context_length - 2 and - 1, the last of the context
  context.resize(static_cast<size_t>(context_length), 300);
  auto full = drafter->draft(1, context, 6);
  REQUIRE(full.ok());
  CHECK(full->empty());
}

TEST_CASE("SessionsBeyondTheBoundAreClosedLeastRecentlyUsedFirst", "[drafter]") {
  const std::string package = draft_package("stories260K", stories_source(), 1);
  LocalModel model = test::open_or_fail(package);
  std::shared_ptr<ShardRange> range(std::move(model.shards));
  ModelDrafter drafter(range, model.manifest.name, model.manifest.hparams.context_length, /*max_sessions=*/2);
  auto first = drafter.draft(1, kPrompt, 4);
  REQUIRE(first.ok());
  REQUIRE(drafter.draft(2, kPrompt, 4).ok());
  REQUIRE(drafter.draft(1, kPrompt, 4).ok());  // session 1 is now the most recently used
  REQUIRE(drafter.draft(3, kPrompt, 4).ok());  // evicts session 2
  CHECK(drafter.sessions() == 2);
  CHECK(range->open_sessions() == 2);
  auto reopened = drafter.draft(2, kPrompt, 4);  // evicts session 1; session 2 starts afresh
  REQUIRE(reopened.ok());
  CHECK(*reopened == *first);
  CHECK(range->open_sessions() == 2);
  drafter.forget(3);
  drafter.forget(3);  // twice: nothing more to close
  CHECK(range->open_sessions() == 1);
  // open_drafter passes its bound on (the daemon's is its --max-sessions).
  auto opened = open_drafter("draft:" + package, RuntimeOptions{1}, nullptr, /*max_sessions=*/1);
  REQUIRE(opened.ok());
  auto* bounded = dynamic_cast<ModelDrafter*>(opened->get());
  REQUIRE(bounded != nullptr);
  REQUIRE(bounded->draft(1, kPrompt, 2).ok());
  REQUIRE(bounded->draft(2, kPrompt, 2).ok());
  CHECK(bounded->sessions() == 1);
}

TEST_CASE("DraftPackageOfAnotherTokenizerIsRefused", "[drafter]") {
  const std::string package = draft_package("stories260K", stories_source(), 1);
  LocalModel random512 = test::open_or_fail(test::model_dir("random512"));
  auto refused = open_drafter("draft:" + package, RuntimeOptions{1}, &random512.manifest);
  REQUIRE(!refused.ok());
  CHECK(refused.error().find("has another tokenizer than synthetic-stories42M") != std::string::npos);
  CHECK(refused.error().find('\n') == std::string::npos);
  LocalModel stories = test::open_or_fail(test::model_dir("stories260K"));
  auto opened = open_drafter("draft:" + package, RuntimeOptions{1}, &stories.manifest);
  REQUIRE(opened.ok());
  CHECK((*opened)->name() == "draft:stories260K-exit1");
  auto missing = open_drafter("draft:/nonexistent/exit1", RuntimeOptions{1}, &stories.manifest);
  REQUIRE(!missing.ok());
  CHECK(missing.error().find("draft model /nonexistent/exit1") != std::string::npos);
}

TEST_CASE("SpeculativeOutputDifferingFromPlainDecodingIsCaught", "[drafter][generator]") {
  struct Case {
    const char* model;
    std::string source;
    int draft_layers;
    float temperature;
    bool expect_accepted;  // the greedy drafts of these early exits do stand sometimes (measured)
  };
  const std::vector<Case> cases = {
      {"stories260K", stories_source(), 4, 0.0f, true},
      {"stories260K", stories_source(), 4, 0.8f, false},
      {"random512", kRandom512Source, 11, 0.0f, true},
      {"random512", kRandom512Source, 11, 0.8f, false},
  };
  for (const auto& c : cases) {
    INFO(c.model << " exit" << c.draft_layers << " temperature " << c.temperature);
    LocalModel target = test::open_or_fail(test::model_dir(c.model));
    auto drafter =
        open_drafter("draft:" + draft_package(c.model, c.source, c.draft_layers), RuntimeOptions{1}, &target.manifest);
    REQUIRE(drafter.ok());
    Generator generator(target.manifest, target.tokenizer, *target.shards);
    GenerateOptions options;
    options.max_tokens = 120;
    options.ignore_eos = true;
    options.sampling.temperature = c.temperature;
    options.sampling.seed = 11;
    auto plain = generator.generate_tokens(kPrompt, options, nullptr);
    options.speculation.mode = (*drafter)->name();
    options.speculation.draft_tokens = 6;
    options.drafter = drafter->get();
    auto speculative = generator.generate_tokens(kPrompt, options, nullptr);
    REQUIRE(plain.ok());
    REQUIRE(speculative.ok());
    CHECK(speculative->tokens == plain->tokens);
    CHECK(speculative->tokens.size() == 120);
    CHECK(speculative->drafted > 0);
    if (c.expect_accepted) {
      CHECK(speculative->accepted > 0);
      CHECK(speculative->accepted < speculative->drafted);  // rejections too: the rolled-back path ran
      CHECK(speculative->decode_steps < plain->decode_steps);
    }
  }
}
