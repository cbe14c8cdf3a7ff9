// The data plane with real parts: StageServers on loopback ZeroMQ, each running real libtorch shards of the real
// stories260K model. A split model must say exactly what the whole model says in one process.
#include <catch2/catch.hpp>
#include <future>
#include <thread>
#include <zmq.hpp>

#include "client/head_stream.h"
#include "engine/generator.h"
#include "model/package.h"
#include "pipeline/stage_server.h"
#include "runtime/local_model.h"
#include "support/paths.h"

using namespace ll;
using namespace ll::pipeline;
using ll::client::run_generation;

namespace {

struct TestPipeline {
  std::shared_ptr<Manifest> manifest;
  std::shared_ptr<Tokenizer> tokenizer;
  std::vector<std::shared_ptr<ShardRange>> ranges;
  std::vector<std::unique_ptr<StageServer>> servers;
  const std::string& head() const { return servers[0]->endpoint(); }
  // Whether every stage frees every session: waits on the stages' published figures (the event itself), up to 10 s,
  // so a slow session_end is waited for rather than missed.
  bool sessions_freed() const {
    for (const auto& s : servers) {
      if (!s->wait_until([](const StageStats& st) { return st.open_sessions == 0; }, std::chrono::seconds(10)))
        return false;
    }
    return true;
  }
};

// Resolves a future once a streamed count reaches `n` (a test's trigger, instead of polling the count).
class CountReached {
 public:
  explicit CountReached(int n) : n_(n), future_(promise_.get_future()) {}
  void add() {
    if (++count_ == n_) promise_.set_value();
  }
  // False if the count never got there within a minute (the generation ended early or hung).
  [[nodiscard]] bool wait() { return future_.wait_for(std::chrono::seconds(60)) == std::future_status::ready; }
  int count() const { return count_; }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::promise<void> promise_;
  std::future<void> future_;
};

TestPipeline start_pipeline(const std::vector<std::pair<int, int>>& splits, proto::DType wire = proto::DType::kF32,
                            double idle_timeout_s = 120) {
  const std::string dir = test::model_dir("stories260K");
  TestPipeline p;
  auto manifest = load_manifest(dir);
  REQUIRE(manifest.ok());
  p.manifest = std::make_shared<Manifest>(*manifest);
  auto tokenizer = load_package_tokenizer(*manifest, dir);
  REQUIRE(tokenizer.ok());
  p.tokenizer = std::make_shared<Tokenizer>(*tokenizer);
  std::vector<std::string> endpoints;
  for (size_t i = 0; i < splits.size(); ++i) {
    StageServerOptions options;
    options.name = "stage" + std::to_string(i);
    options.session_idle_timeout_s = idle_timeout_s;
    auto server = StageServer::start(options);
    REQUIRE(server.ok());
    endpoints.push_back((*server)->endpoint());
    p.servers.push_back(std::move(server).value());
    auto range = load_package_range(*manifest, dir, splits[i].first, splits[i].second, RuntimeOptions{1});
    REQUIRE(range.ok());
    p.ranges.push_back(std::shared_ptr<ShardRange>(std::move(range).value()));
  }
  for (size_t i = 0; i < splits.size(); ++i) {
    auto config = std::make_shared<StageConfig>();
    config->plan_version = 1;
    config->stage_index = static_cast<int>(i);
    config->stage_endpoints = endpoints;
    config->shards = p.ranges[i];
    config->manifest = p.manifest;
    config->tokenizer = p.tokenizer;
    config->max_sessions = 8;  // the plan admits the concurrent generations below
    config->wire = wire;
    p.servers[i]->configure(config);
  }
  return p;
}

std::vector<int32_t> local_tokens(const std::string& prompt, int max_tokens, SamplingParams sampling = {}) {
  static auto model = open_local_model(test::model_dir("stories260K"), RuntimeOptions{1});
  REQUIRE(model.ok());
  Generator generator(model->manifest, model->tokenizer, *model->shards);
  GenerateOptions options;
  options.max_tokens = max_tokens;
  options.sampling = sampling;
  auto result = generator.generate(prompt, options, nullptr);
  REQUIRE(result.ok());
  return result->tokens;
}

proto::GenerateMsg request(const std::string& prompt, int max_tokens, proto::SamplingWire sampling = {}) {
  proto::GenerateMsg m;
  m.prompt = prompt;
  m.max_tokens = max_tokens;
  m.sampling = sampling;
  return m;
}

// A new plan with other boundaries over the same servers, applied the head last (as the leader does, once every
// other stage is ready).
void replan(TestPipeline& p, const std::vector<std::pair<int, int>>& splits, uint64_t version) {
  const std::string dir = test::model_dir("stories260K");
  std::vector<std::string> endpoints;
  for (auto& s : p.servers) endpoints.push_back(s->endpoint());
  for (int i = static_cast<int>(splits.size()) - 1; i >= 0; --i) {
    auto range = load_package_range(*p.manifest, dir, splits[i].first, splits[i].second, RuntimeOptions{1});
    REQUIRE(range.ok());
    p.ranges[i] = std::shared_ptr<ShardRange>(std::move(range).value());
    auto config = std::make_shared<StageConfig>();
    config->plan_version = version;
    config->stage_index = i;
    config->stage_endpoints = endpoints;
    config->shards = p.ranges[i];
    config->manifest = p.manifest;
    config->tokenizer = p.tokenizer;
    config->max_sessions = 8;  // the plan admits the concurrent generations below
    p.servers[i]->configure(config);
  }
}

std::vector<int32_t> as_tokens(const std::vector<int64_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

}  // namespace

TEST_CASE("ThreeStagePipelineReproducesTheKnownAnswer", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 2}, {3, 4}, {5, 6}});
  std::string streamed;
  auto done = run_generation(p.head(), request("", 200), [&](const proto::TokensMsg& t) {
    streamed += t.text;
    return true;
  });
  REQUIRE(done.ok());
  CHECK(done->stages == 3);
  CHECK(as_tokens(done->tokens) == local_tokens("", 200));
  CHECK(streamed == done->text);
  CHECK_THAT(done->text, Catch::StartsWith("Once upon a time, there was a little girl named Lily. She loved to play "
                                           "outside in the park."));
  CHECK(p.sessions_freed());  // session_end reaches the other stages
}

TEST_CASE("Fp16WireMatchesTheLocalRun", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 1}, {2, 4}, {5, 6}}, proto::DType::kF16);
  auto done = run_generation(p.head(), request("Once upon a time", 100), nullptr);
  REQUIRE(done.ok());
  CHECK(as_tokens(done->tokens) == local_tokens("Once upon a time", 100));
}

TEST_CASE("EightConcurrentGenerationsEachMatchTheirLocalRun", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 2}, {3, 4}, {5, 6}});
  const std::vector<std::string> prompts{"Once upon a time", "Lily", "The dog", "Tom had a red ball",
                                         "One day",          "Sue",  "A bird",  "The sun was hot"};
  std::vector<std::future<client::ClientResult<proto::DoneMsg>>> runs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    proto::SamplingWire sampling{i % 2 ? 0.8 : 0.0, 0, 0.9, 100 + i};
    runs.push_back(std::async(std::launch::async, [&, i, sampling] {
      return run_generation(p.head(), request(prompts[i], 80, sampling), nullptr);
    }));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto done = runs[i].get();
    REQUIRE(done.ok());
    SamplingParams sampling{i % 2 ? 0.8f : 0.0f, 0, 0.9f, 100 + i};
    INFO("prompt " << prompts[i]);
    CHECK(as_tokens(done->tokens) == local_tokens(prompts[i], 80, sampling));
  }
  CHECK(p.servers[1]->stats().batched_steps > 0);  // sessions met at a stage and shared a forward pass
  CHECK(p.sessions_freed());
}

TEST_CASE("ClientThatDisconnectsLeavesNoKvCacheBehind", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 2}, {3, 4}, {5, 6}});
  int pieces = 0;
  auto done = run_generation(p.head(), request("Once upon a time", 400), [&](const proto::TokensMsg&) {
    return ++pieces < 5;  // the client gives up after five pieces
  });
  REQUIRE(done.ok());
  CHECK(done->stop_reason == "cancelled");
  // A client that vanishes without a word (its socket closed mid-stream) is noticed on the next send.
  {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(p.head());
    auto frames = proto::encode_data_message(request("Lily", 400));
    REQUIRE(frames.ok());
    for (size_t i = 0; i < frames->size(); ++i) {
      socket.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    zmq::message_t reply;
    REQUIRE(socket.recv(reply));  // started
  }
  CHECK(p.sessions_freed());
}

TEST_CASE("PromptLongerThanTheContextIsRefusedByTheHead", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 3}, {4, 6}});
  std::string prompt;
  for (int i = 0; i < 600; ++i) prompt += "cat ";
  auto done = run_generation(p.head(), request(prompt, 10), nullptr);
  REQUIRE_FALSE(done.ok());
  CHECK_THAT(done.error().message, Catch::Contains("context"));
  // ...and keeps serving.
  auto next = run_generation(p.head(), request("Lily", 5), nullptr);
  REQUIRE(next.ok());
  CHECK(next->tokens.size() == 5);
}

TEST_CASE("GarbageOnTheDataPortIsAnsweredAndServiceContinues", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 3}, {4, 6}});
  {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(p.head());
    socket.send(zmq::str_buffer("{\"v\":1,\"type\":\"generate\",\"prompt\":5}"));
    zmq::message_t reply;
    REQUIRE(socket.recv(reply));
    CHECK_THAT(reply.to_string(), Catch::Contains("malformed"));
  }
  auto done = run_generation(p.head(), request("Lily", 5), nullptr);
  REQUIRE(done.ok());
}

TEST_CASE("IdleSessionsOnAStageAreFreed", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 3}, {4, 6}}, proto::DType::kF32, /*idle_timeout_s=*/0.5);
  // An activation for a session whose head never comes back.
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(p.servers[1]->endpoint());
  proto::ActivationMsg m;
  m.session = 77;
  m.plan_version = 1;
  m.hidden.dtype = proto::DType::kF32;
  m.hidden.shape = {1, 64};
  m.hidden.data.assign(64 * 4, '\0');
  auto frames = proto::encode_data_message(m);
  REQUIRE(frames.ok());
  socket.send(zmq::buffer((*frames)[0]), zmq::send_flags::sndmore);
  socket.send(zmq::buffer((*frames)[1]));
  auto open = [&](size_t n) {
    return p.servers[1]->wait_until([n](const StageStats& st) { return st.open_sessions == n; },
                                    std::chrono::seconds(10));
  };
  CHECK(open(1));
  CHECK(open(0));  // freed by the idle timeout
}

TEST_CASE("ReplanMidGenerationReplaysSessionsAndLosesNothing", "[pipeline][replan]") {
  TestPipeline p = start_pipeline({{0, 2}, {3, 4}, {5, 6}});
  CountReached pieces(30);
  auto run = std::async(std::launch::async, [&] {
    return run_generation(p.head(), request("Once upon a time", 150), [&](const proto::TokensMsg&) {
      pieces.add();
      return true;
    });
  });
  REQUIRE(pieces.wait());
  // A new plan with other boundaries: the middle stage takes more layers, the tail fewer.
  replan(p, {{0, 1}, {2, 5}, {6, 6}}, 2);
  auto done = run.get();
  REQUIRE(done.ok());
  CHECK(done->stop_reason == "max_tokens");
  CHECK(as_tokens(done->tokens) == local_tokens("Once upon a time", 150));
  CHECK(p.servers[0]->stats().replayed_sessions == 1);
}

TEST_CASE("ReplayOfALongSessionInSeveralStepsKeepsSampledOutputExact", "[pipeline][replan]") {
  // 120 generated tokens replay in several steps (64 rows each) that the stages work on at once; only the last is
  // sampled. Sampled decoding: any row computed differently, or a step sampled that should not be, changes the text.
  TestPipeline p = start_pipeline({{0, 2}, {3, 4}, {5, 6}});
  proto::SamplingWire sampling;
  sampling.temperature = 0.9;
  sampling.seed = 77;
  std::promise<void> reached;
  int pieces = 0;
  auto run = std::async(std::launch::async, [&] {
    return run_generation(p.head(), request("Once upon a time", 220, sampling), [&](const proto::TokensMsg& m) {
      if (!m.tokens.empty() && ++pieces == 120) reached.set_value();
      return true;
    });
  });
  REQUIRE(reached.get_future().wait_for(std::chrono::seconds(60)) == std::future_status::ready);
  replan(p, {{0, 3}, {4, 4}, {5, 6}}, 2);
  auto done = run.get();
  REQUIRE(done.ok());
  CHECK(as_tokens(done->tokens) == local_tokens("Once upon a time", 220, SamplingParams{0.9f, 0, 1.0f, 77}));
  CHECK(p.servers[0]->stats().replayed_sessions == 1);
}

TEST_CASE("ActivationArrivingAfterItsSessionEndedOpensNoCache", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 3}, {4, 6}});
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(p.servers[1]->endpoint());
  auto send = [&](const proto::DataMessage& m) {
    auto frames = proto::encode_data_message(m);
    REQUIRE(frames.ok());
    for (size_t i = 0; i < frames->size(); ++i) {
      socket.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  };
  send(proto::SessionEndMsg{91});  // the head's session_end overtakes the other stage's last activation
  proto::ActivationMsg late;
  late.session = 91;
  late.plan_version = 1;
  late.hidden.dtype = proto::DType::kF32;
  late.hidden.shape = {1, 64};
  late.hidden.data.assign(64 * 4, '\0');
  send(late);
  // A barrier: the stage answers a message that is not a request, after handling the late activation (one
  // connection, one thread, in order); by then its figures show whether that activation opened a cache.
  send(proto::DoneMsg{});
  zmq::message_t answer;
  REQUIRE(socket.recv(answer));
  CHECK(p.servers[1]->stats().open_sessions == 0);
}

namespace {

// A real shard range that fails every step after the first `good_steps`: a stage whose compute breaks mid-run.
class FailingAfter final : public ShardRange {
 public:
  FailingAfter(std::shared_ptr<ShardRange> inner, int good_steps) : inner_(std::move(inner)), left_(good_steps) {}
  int first_shard() const override { return inner_->first_shard(); }
  int last_shard() const override { return inner_->last_shard(); }
  Status open_session(uint64_t id) override { return inner_->open_session(id); }
  void close_session(uint64_t id) override { inner_->close_session(id); }
  size_t open_sessions() const override { return inner_->open_sessions(); }
  Result<Tensor32> forward(uint64_t id, const StepInput& input) override {
    if (left_-- <= 0) return make_error("injected failure");
    return inner_->forward(id, input);
  }
  Result<std::vector<Tensor32>> forward_batch(const std::vector<uint64_t>& ids,
                                              const std::vector<StepInput>& inputs) override {
    if (left_-- <= 0) return make_error("injected failure");
    return inner_->forward_batch(ids, inputs);
  }

 private:
  std::shared_ptr<ShardRange> inner_;
  int left_;
};

}  // namespace

TEST_CASE("StepFailingOnAMiddleStageReachesTheClientAtOnce", "[pipeline]") {
  TestPipeline p = start_pipeline({{0, 2}, {3, 4}, {5, 6}});
  for (size_t i = 0; i < 3; ++i) {
    auto c = std::make_shared<StageConfig>();
    c->plan_version = 2;
    c->stage_index = static_cast<int>(i);
    for (const auto& s : p.servers) c->stage_endpoints.push_back(s->endpoint());
    c->shards = i == 1 ? std::make_shared<FailingAfter>(p.ranges[1], 20) : p.ranges[i];
    c->manifest = p.manifest;
    c->tokenizer = p.tokenizer;
    c->max_sessions = 8;
    p.servers[i]->configure(c);  // applies before the stage handles its next message
  }
  const auto began = std::chrono::steady_clock::now();
  auto done = run_generation(p.head(), request("Once upon a time", 200), nullptr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  REQUIRE_FALSE(done.ok());
  CHECK_THAT(done.error().message, Catch::Contains("a stage of the ring failed"));
  CHECK(done.error().code != client::ErrorCode::kLost);  // not a lost head: no resume is attempted
  CHECK(seconds < 5);                                    // told at once, not after the 10 s silence
  CHECK(p.sessions_freed());                             // freed on every stage
}

namespace {

// A real shard range whose steps wait until the test releases them: a step as long as the test needs, whatever the
// machine's speed (bounded, so a broken test cannot hang the stage thread for good).
class HeldSteps final : public ShardRange {
 public:
  explicit HeldSteps(std::shared_ptr<ShardRange> inner) : inner_(std::move(inner)), released_(release_.get_future()) {}
  void release() { release_.set_value(); }
  int first_shard() const override { return inner_->first_shard(); }
  int last_shard() const override { return inner_->last_shard(); }
  Status open_session(uint64_t id) override { return inner_->open_session(id); }
  void close_session(uint64_t id) override { inner_->close_session(id); }
  size_t open_sessions() const override { return inner_->open_sessions(); }
  Result<Tensor32> forward(uint64_t id, const StepInput& input) override {
    (void)released_.wait_for(std::chrono::seconds(30));
    return inner_->forward(id, input);
  }

 private:
  std::shared_ptr<ShardRange> inner_;
  std::promise<void> release_;
  std::shared_future<void> released_;
};

}  // namespace

TEST_CASE("HeadKeepsItsClientAliveThroughASilentStep", "[pipeline]") {
  // The tail's step lasts until the client has heard a keep-alive; the client gives up after 4 s without a word.
  // The head's keep-alives (an empty `tokens` after 2 s of silence) hold it.
  TestPipeline p = start_pipeline({{0, 3}, {4, 6}});
  auto held = std::make_shared<HeldSteps>(p.ranges[1]);
  for (size_t i = 0; i < 2; ++i) {
    auto c = std::make_shared<StageConfig>();
    c->plan_version = 2;
    c->stage_index = static_cast<int>(i);
    for (const auto& s : p.servers) c->stage_endpoints.push_back(s->endpoint());
    c->shards = i == 1 ? std::static_pointer_cast<ShardRange>(held) : p.ranges[i];
    c->manifest = p.manifest;
    c->tokenizer = p.tokenizer;
    c->max_sessions = 8;
    p.servers[i]->configure(c);
  }
  client::GenerationOptions options;
  options.answer_timeout = std::chrono::milliseconds(4000);
  int keepalives = 0;
  auto done = run_generation(
      p.head(), request("Lily", 1),
      [&](const proto::TokensMsg& t) {
        if (t.tokens.empty() && t.text.empty() && ++keepalives == 1) held->release();
        return true;
      },
      options);
  REQUIRE(done.ok());
  CHECK(done->tokens.size() == 1);
  CHECK(keepalives >= 1);
}
