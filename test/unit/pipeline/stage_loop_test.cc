// The data plane's races, deterministically: StageLoops over an in-process transport (net/inproc_transport.h) on a
// manual clock, turned one by one by the test — no threads, no sockets, no sleeps. The shards are a fake whose
// every output hashes the whole KV history of every shard it crossed, so a lost, repeated or stale step changes the
// answer; its composition does not depend on where the ring is cut, so any plan must give the one-stage answer.
// The tokenizer and manifest are stories260K's (real files; the fake only replaces the tensor runtime).
#include <catch2/catch.hpp>
#include <map>

#include "model/package.h"
#include "net/inproc_transport.h"
#include "pipeline/stage_loop.h"
#include "support/paths.h"

using namespace ll;
using namespace ll::pipeline;

namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Shards [first, last] of a model whose shard s keeps, per session, one cache row per position; a row is a hash of
// the shard, the position, the row's input and every earlier row. Values stay below 2^23, exact in float32.
class HashChainShards final : public ShardRange {
 public:
  HashChainShards(int first, int last, int last_of_model, int vocab, int dim)
      : first_(first), last_(last), tail_(last == last_of_model), vocab_(vocab), dim_(dim) {}
  int first_shard() const override { return first_; }
  int last_shard() const override { return last_; }
  Status open_session(uint64_t id) override {
    caches_[id].assign(last_ - first_ + 1, {});
    return Status::Ok();
  }
  void close_session(uint64_t id) override { caches_.erase(id); }
  size_t open_sessions() const override { return caches_.size(); }
  Result<Tensor32> forward(uint64_t id, const StepInput& input) override {
    auto it = caches_.find(id);
    if (it == caches_.end()) return make_error("session " + std::to_string(id) + " is not open");
    const int rows = input.step_tokens();
    std::vector<uint64_t> values(rows);
    for (int r = 0; r < rows; ++r) {
      values[r] = input.tokens.empty() ? static_cast<uint64_t>(input.hidden.values[r * dim_])
                                       : static_cast<uint64_t>(input.tokens[r]);
    }
    for (int s = first_; s <= last_; ++s) {
      auto& cache = it->second[s - first_];
      if (static_cast<int>(cache.size()) != input.start_pos) {
        return make_error("shard " + std::to_string(s) + " holds " + std::to_string(cache.size()) +
                          " positions; a step starts at " + std::to_string(input.start_pos));
      }
      for (int r = 0; r < rows; ++r) {
        uint64_t h = mix(mix(s, input.start_pos + r), values[r]);
        for (uint64_t earlier : cache) h = mix(h, earlier);
        values[r] = h & ((1u << 23) - 1);
        cache.push_back(values[r]);
      }
    }
    Tensor32 out;
    if (tail_) {  // logits of the last position: one clear winner, never bos or eos
      out.shape = {vocab_};
      out.values.assign(vocab_, 0.f);
      out.values[3 + values.back() % (vocab_ - 3)] = 10.f;
    } else {
      out.shape = {rows, dim_};
      out.values.assign(static_cast<size_t>(rows) * dim_, 0.f);
      for (int r = 0; r < rows; ++r) out.values[r * dim_] = static_cast<float>(values[r]);
    }
    return out;
  }

 private:
  int first_, last_;
  bool tail_;
  int vocab_, dim_;
  std::map<uint64_t, std::vector<std::vector<uint64_t>>> caches_;  // session -> shard -> rows
};

// What a client saw of one generation.
struct Seen {
  uint64_t session = 0;
  std::vector<int32_t> tokens;
  int keepalives = 0;
  std::optional<proto::DoneMsg> done;
  std::optional<proto::DataErrorMsg> error;
};

struct Model {
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Tokenizer> tokenizer;
};

const Model& stories260k() {
  static const Model model = [] {
    const std::string dir = test::model_dir("stories260K");
    auto manifest = load_manifest(dir);
    REQUIRE(manifest.ok());
    auto tokenizer = load_package_tokenizer(*manifest, dir);
    REQUIRE(tokenizer.ok());
    return Model{std::make_shared<Manifest>(*manifest), std::make_shared<Tokenizer>(*tokenizer)};
  }();
  return model;
}

// A ring of `n` stage loops and one client on an in-process hub, on a manual clock.
class SimRing {
 public:
  explicit SimRing(int n, double idle_timeout_s = 120) : hub_(clock_) {
    for (int i = 0; i < n; ++i) {
      StageServerOptions options;
      options.name = "stage" + std::to_string(i);
      options.session_idle_timeout_s = idle_timeout_s;
      loops_.push_back(
          std::make_unique<StageLoop>(options, std::make_unique<net::InprocTransport>(hub_, options.name), clock_));
    }
    client_ = std::make_unique<net::InprocTransport>(hub_, "client");
  }

  net::InprocHub& hub() { return hub_; }
  ManualClock& clock() { return clock_; }
  StageLoop& stage(int i) { return *loops_[i]; }
  std::string endpoint(int i) const { return loops_[i]->endpoint(); }

  // Plan `version`: stage i of the plan runs on loop stages[i] with shards splits[i]; fresh caches everywhere.
  void plan(uint64_t version, const std::vector<int>& stages, const std::vector<std::pair<int, int>>& splits,
            const std::vector<std::shared_ptr<ShardRange>>& ranges = {}) {
    for (const auto& config : configs(version, stages, splits, ranges)) loops_[config.first]->configure(config.second);
  }
  std::vector<std::pair<int, std::shared_ptr<const StageConfig>>> configs(
      uint64_t version, const std::vector<int>& stages, const std::vector<std::pair<int, int>>& splits,
      const std::vector<std::shared_ptr<ShardRange>>& ranges = {}) {
    const Model& m = stories260k();
    const int last = static_cast<int>(m.manifest->shards.size()) - 1;
    std::vector<std::string> endpoints;
    for (int s : stages) endpoints.push_back(endpoint(s));
    std::vector<std::pair<int, std::shared_ptr<const StageConfig>>> out;
    for (size_t i = 0; i < stages.size(); ++i) {
      auto c = std::make_shared<StageConfig>();
      c->plan_version = version;
      c->stage_index = static_cast<int>(i);
      c->stage_endpoints = endpoints;
      c->shards = i < ranges.size() && ranges[i]
                      ? ranges[i]
                      : std::make_shared<HashChainShards>(splits[i].first, splits[i].second, last,
                                                          m.manifest->hparams.vocab_size, m.manifest->hparams.dim);
      c->manifest = m.manifest;
      c->tokenizer = m.tokenizer;
      out.emplace_back(stages[i], c);
    }
    return out;
  }

  void generate(const std::string& prompt, int max_tokens) {
    proto::GenerateMsg request;
    request.prompt = prompt;
    request.max_tokens = max_tokens;
    request.ignore_eos = true;
    send_from_client(0, request);
  }
  void send_from_client(int stage, const proto::DataMessage& message) {
    auto frames = proto::encode_data_message(message);
    REQUIRE(frames.ok());
    REQUIRE(client_->send(endpoint(stage), std::move(frames).value()).ok());
  }

  // One round: every stage loop takes one turn. Then what reached the client is read.
  void round() {
    for (auto& loop : loops_) loop->turn(Duration(0));
    while (auto in = client_->receive(Duration(0))) {
      auto message = proto::decode_data_message(in->frames);
      REQUIRE(message.ok());
      if (auto* s = std::get_if<proto::StartedMsg>(&*message)) seen_.session = s->session;
      if (auto* t = std::get_if<proto::TokensMsg>(&*message)) {
        if (t->tokens.empty() && t->text.empty()) ++seen_.keepalives;
        for (int64_t token : t->tokens) seen_.tokens.push_back(static_cast<int32_t>(token));
      }
      if (auto* d = std::get_if<proto::DoneMsg>(&*message)) seen_.done = *d;
      if (auto* e = std::get_if<proto::DataErrorMsg>(&*message)) seen_.error = *e;
    }
  }
  // Rounds until nothing is left to deliver or compute (held messages wait), or `stop` holds after a round.
  // Fails the test if the ring never settles.
  void settle(const std::function<bool()>& stop = [] { return false; }) {
    for (int n = 0; n < 100000; ++n) {
      round();
      if (stop()) return;
      bool busy = false;
      for (size_t i = 0; i < loops_.size(); ++i) {
        busy = busy || loops_[i]->steps_waiting() || hub_.deliverable(endpoint(static_cast<int>(i))) > 0;
      }
      if (!busy) return;
    }
    FAIL("the ring never settled");
  }
  const Seen& seen() const { return seen_; }
  size_t open_sessions(int i) const { return loops_[i]->stats().open_sessions; }

 private:
  ManualClock clock_;
  net::InprocHub hub_;
  std::vector<std::unique_ptr<StageLoop>> loops_;
  std::unique_ptr<net::InprocTransport> client_;
  Seen seen_;
};

constexpr const char* kPrompt = "Once upon a time";

// The answer of the whole model in one stage, undisturbed.
std::vector<int32_t> one_stage_answer(int max_tokens) {
  SimRing ring(1);
  ring.plan(1, {0}, {{0, 6}});
  ring.generate(kPrompt, max_tokens);
  ring.settle();
  REQUIRE(ring.seen().done);
  REQUIRE(ring.seen().tokens.size() == static_cast<size_t>(max_tokens));
  return ring.seen().tokens;
}

}  // namespace

TEST_CASE("ThreeStageRingSaysWhatOneStageSays", "[stage_loop]") {
  const auto expected = one_stage_answer(30);
  CHECK(std::set<int32_t>(expected.begin(), expected.end()).size() > 10);  // the fake's answers are not constant
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 30);
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "max_tokens");
  CHECK(ring.seen().tokens == expected);
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("PlanSwitchWithAnActivationInFlightDropsItAndReplaysExactly", "[stage_loop][replan]") {
  const auto expected = one_stage_answer(40);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 40);
  ring.settle([&] { return ring.seen().tokens.size() >= 12; });
  // The head's next activation (plan 1) is on its way to stage 1 when every stage switches to plan 2.
  ring.hub().hold(ring.endpoint(0), ring.endpoint(1));
  ring.settle();
  REQUIRE_FALSE(ring.seen().done);  // the ring stands still: the activation is held
  ring.plan(2, {0, 1, 2}, {{0, 1}, {2, 5}, {6, 6}});
  for (int i : {2, 1, 0}) ring.stage(i).turn(Duration(0));  // applied, the head last (as the leader does)
  ring.hub().release(ring.endpoint(0), ring.endpoint(1));   // the stale activation now arrives
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.stage(0).stats().replayed_sessions == 1);
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("ReplayOfALongSessionInSeveralStepsRebuildsEveryCacheExactly", "[stage_loop][replan]") {
  const auto expected = one_stage_answer(200);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 3}, {4, 4}, {5, 6}});
  ring.generate(kPrompt, 200);
  ring.settle([&] { return ring.seen().tokens.size() >= 150; });  // 150 rows: three replay steps
  ring.plan(2, {0, 1, 2}, {{0, 0}, {1, 2}, {3, 6}});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);  // a missing or repeated row of any cache would change every later token
}

TEST_CASE("StageLostMidStepIsReplacedAndTheGenerationContinuesExactly", "[stage_loop][failover]") {
  const auto expected = one_stage_answer(60);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 60);
  ring.settle([&] { return ring.seen().tokens.size() >= 20; });
  // Stage 1's process dies with a step in its queue and another on the way: both are lost with it.
  ring.hub().kill_process(ring.endpoint(1));
  ring.settle();
  REQUIRE(ring.seen().tokens.size() >= 20);
  CHECK_FALSE(ring.seen().done);  // the head waits for a new plan; the client is not failed
  ring.plan(2, {0, 2}, {{0, 3}, {4, 6}});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
  CHECK(ring.open_sessions(0) == 0);
  CHECK(ring.open_sessions(2) == 0);
}

TEST_CASE("SessionEndOvertakingItsLastActivationOpensNoCache", "[stage_loop]") {
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 100);
  ring.settle([&] { return ring.seen().tokens.size() >= 5; });
  // Stage 1's next activation for the tail is held; the client cancels; the head's session_end reaches the tail
  // first, and the activation after it.
  ring.hub().hold(ring.endpoint(1), ring.endpoint(2));
  ring.settle();
  ring.send_from_client(0, proto::CancelMsg{ring.seen().session});
  ring.settle();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "cancelled");
  CHECK(ring.open_sessions(2) == 0);
  ring.hub().release(ring.endpoint(1), ring.endpoint(2));
  ring.settle();
  CHECK(ring.open_sessions(2) == 0);  // the late activation did not open a fresh cache
  for (int i = 0; i < 3; ++i) CHECK(ring.open_sessions(i) == 0);
}

TEST_CASE("TwoReplansRacingSettleOnTheNewestPlan", "[stage_loop][replan]") {
  const auto expected = one_stage_answer(50);
  SimRing ring(3);
  ring.plan(1, {0, 1, 2}, {{0, 2}, {3, 4}, {5, 6}});
  ring.generate(kPrompt, 50);
  ring.settle([&] { return ring.seen().tokens.size() >= 10; });
  // Plans 2 and 3 are applied by threads that race: stage 1 gets plan 3 before plan 2, the others in order.
  auto plan2 = ring.configs(2, {0, 1, 2}, {{0, 1}, {2, 3}, {4, 6}});
  auto plan3 = ring.configs(3, {0, 1, 2}, {{0, 4}, {5, 5}, {6, 6}});
  ring.stage(2).configure(plan2[2].second);
  ring.stage(1).configure(plan3[1].second);
  ring.stage(1).configure(plan2[1].second);  // late: must not take stage 1 back to plan 2
  ring.stage(2).configure(plan3[2].second);
  ring.stage(0).configure(plan2[0].second);
  ring.stage(0).configure(plan3[0].second);
  ring.settle();
  for (int i = 0; i < 3; ++i) CHECK(ring.stage(i).stats().plan_version == 3);
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().tokens == expected);
}

TEST_CASE("LostActivationEndsTheSessionAtTheIdleTimeoutAndFreesEveryCache", "[stage_loop]") {
  SimRing ring(2, /*idle_timeout_s=*/30);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  ring.generate(kPrompt, 100);
  ring.settle([&] { return ring.seen().tokens.size() >= 3; });
  ring.hub().partition(ring.endpoint(0), ring.endpoint(1));  // every activation and token from now on is lost
  ring.settle();
  REQUIRE_FALSE(ring.seen().done);
  CHECK(ring.open_sessions(0) == 1);
  ring.clock().advance(std::chrono::milliseconds(2500));
  ring.round();
  CHECK(ring.seen().keepalives == 1);  // silent work: the client hears the head is alive
  CHECK_FALSE(ring.seen().done);
  ring.clock().advance(std::chrono::seconds(30));
  ring.round();
  REQUIRE(ring.seen().done);
  CHECK(ring.seen().done->stop_reason == "timeout");
  CHECK(ring.open_sessions(0) == 0);
  CHECK(ring.open_sessions(1) == 0);  // the tail's own idle timer freed its copy
}

TEST_CASE("ErrorFromAPeerIsNeverAnsweredBack", "[stage_loop]") {
  // Two stages trading "not a request" errors would loop forever; an answer is taken in and dropped.
  SimRing ring(2);
  ring.plan(1, {0, 1}, {{0, 3}, {4, 6}});
  net::InprocTransport peer(ring.hub(), "peer");
  auto frames = proto::encode_data_message(proto::DataErrorMsg{"bad_request", "not a request"});
  REQUIRE(frames.ok());
  REQUIRE(peer.send(ring.endpoint(1), *frames).ok());
  proto::DoneMsg stray;
  auto done_frames = proto::encode_data_message(stray);
  REQUIRE(done_frames.ok());
  REQUIRE(peer.send(ring.endpoint(1), *done_frames).ok());
  ring.settle();
  auto answer = peer.receive(Duration(0));
  REQUIRE(answer);  // the stray done gets one error ...
  auto decoded = proto::decode_data_message(answer->frames);
  REQUIRE(decoded.ok());
  CHECK(std::holds_alternative<proto::DataErrorMsg>(*decoded));
  CHECK_FALSE(peer.receive(Duration(0)));  // ... the error gets nothing
}

TEST_CASE("PeerOfAnotherProtocolVersionIsToldSoNotMalformed", "[stage_loop][protocol]") {
  SimRing ring(1);
  ring.plan(1, {0}, {{0, 6}});
  net::InprocTransport peer(ring.hub(), "peer");
  REQUIRE(peer.send(ring.endpoint(0), {R"({"v":2,"type":"generate","prompt":"hi","max_tokens":1})"}).ok());
  REQUIRE(peer.send(ring.endpoint(0), {"not json"}).ok());
  ring.settle();
  std::vector<std::string> codes;
  while (auto answer = peer.receive(Duration(0))) {
    auto decoded = proto::decode_data_message(answer->frames);
    REQUIRE(decoded.ok());
    REQUIRE(std::holds_alternative<proto::DataErrorMsg>(*decoded));
    codes.push_back(std::get<proto::DataErrorMsg>(*decoded).code);
  }
  CHECK(codes == std::vector<std::string>{"unsupported_version", "malformed"});
}
