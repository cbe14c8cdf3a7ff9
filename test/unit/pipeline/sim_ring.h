// A simulated ring for the data plane's tests: StageLoops over an in-process transport (net/inproc_transport.h) on a
// manual clock, turned one by one by the test — no threads, no sockets, no sleeps. The shards are a fake whose
// every output hashes the whole KV history of every shard it crossed, so a lost, repeated or stale step changes the
// answer; its composition does not depend on where the ring is cut, so any plan must give the one-stage answer.
// The tokenizer and manifest are stories260K's (real files; the fake only replaces the tensor runtime). Clients are
// in-process transports too, each with the CURVE identity (net::Sender) the stages take it for.
// Thread-safety: one test thread.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/package.h"
#include "net/inproc_transport.h"
#include "pipeline/stage_loop.h"
#include "support/paths.h"

namespace ll::pipeline::test_ring {

inline uint64_t mix(uint64_t a, uint64_t b) {
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
    // A speculative step's rejected rows are rolled back: the next step may start up to its drafted rows earlier.
    int& rollback = rollback_[id];
    for (int s = first_; s <= last_; ++s) {
      auto& cache = it->second[s - first_];
      const int held = static_cast<int>(cache.size());
      if (input.start_pos < held && held - input.start_pos <= rollback) cache.resize(input.start_pos);
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
    rollback = input.logit_rows - 1;
    Tensor32 out;
    if (tail_) {  // logits of the last logit_rows positions: one clear winner each, never bos or eos
      const int n = input.logit_rows;
      out.shape = n == 1 ? std::vector<int64_t>{vocab_} : std::vector<int64_t>{n, vocab_};
      out.values.assign(static_cast<size_t>(n) * vocab_, 0.f);
      for (int r = 0; r < n; ++r) out.values[r * vocab_ + 3 + values[rows - n + r] % (vocab_ - 3)] = 10.f;
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
  std::map<uint64_t, int> rollback_;                               // session -> rows its next step may roll back
};

// What a client saw of one generation.
struct Seen {
  uint64_t session = 0;
  std::vector<int32_t> tokens;
  std::vector<proto::StepTrace> traces;  // the per-step figures that came with tokens (a client asking for them)
  int keepalives = 0;
  std::optional<proto::DoneMsg> done;
  std::optional<proto::DataErrorMsg> error;
};

struct Model {
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Tokenizer> tokenizer;
};

inline const Model& stories260k() {
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
  // `draft_model`: the drafter every stage offers as draft:<its name()> (speculative decoding).
  explicit SimRing(int n, double idle_timeout_s = 120, int max_sessions = 1,
                   std::shared_ptr<Drafter> draft_model = nullptr)
      : hub_(clock_), max_sessions_(max_sessions) {
    for (int i = 0; i < n; ++i) {
      StageServerOptions options;
      options.name = "stage" + std::to_string(i);
      options.session_idle_timeout_s = idle_timeout_s;
      options.draft_model = draft_model;
      loops_.push_back(
          std::make_unique<StageLoop>(options, std::make_unique<net::InprocTransport>(hub_, options.name), clock_));
    }
    add_client("client");
  }

  // Another client on the hub (index returned), authenticated as `sender`.
  int add_client(const std::string& name, net::Sender sender = {}) {
    clients_.push_back(std::make_unique<net::InprocTransport>(hub_, name, std::move(sender)));
    seen_.emplace_back();
    return static_cast<int>(clients_.size()) - 1;
  }
  // Client `c` goes away and another process takes its address (its route) with `sender`'s key.
  void replace_client(int c, net::Sender sender) {
    const std::string name = clients_[c]->endpoint();
    clients_[c].reset();
    clients_[c] = std::make_unique<net::InprocTransport>(hub_, name, std::move(sender));
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
      c->max_sessions = max_sessions_;
      out.emplace_back(stages[i], c);
    }
    return out;
  }

  void generate(const std::string& prompt, int max_tokens, int client = 0, const std::string& speculate = "",
                int draft_tokens = -1) {
    proto::GenerateMsg request;
    request.prompt = prompt;
    request.max_tokens = max_tokens;
    request.ignore_eos = true;
    request.speculate = speculate;
    request.draft_tokens = draft_tokens;
    send_from_client(0, request, client);
  }
  void send_from_client(int stage, const proto::DataMessage& message, int client = 0) {
    auto frames = proto::encode_data_message(message);
    REQUIRE(frames.ok());
    REQUIRE(clients_[client]->send(endpoint(stage), std::move(frames).value()).ok());
  }

  // One round: every stage loop takes one turn. Then what reached the client is read.
  void round() {
    for (auto& loop : loops_) loop->turn(Duration(0));
    for (size_t c = 0; c < clients_.size(); ++c) {
      Seen& seen = seen_[c];
      while (auto in = clients_[c]->receive(Duration(0))) {
        auto message = proto::decode_data_message(in->frames);
        REQUIRE(message.ok());
        if (auto* s = std::get_if<proto::StartedMsg>(&*message)) seen.session = s->session;
        if (auto* t = std::get_if<proto::TokensMsg>(&*message)) {
          if (t->tokens.empty() && t->text.empty()) ++seen.keepalives;
          for (int64_t token : t->tokens) seen.tokens.push_back(static_cast<int32_t>(token));
          if (t->trace) seen.traces.push_back(*t->trace);
        }
        if (auto* d = std::get_if<proto::DoneMsg>(&*message)) seen.done = *d;
        if (auto* e = std::get_if<proto::DataErrorMsg>(&*message)) seen.error = *e;
      }
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
  const Seen& seen(int client = 0) const { return seen_[client]; }
  size_t open_sessions(int i) const { return loops_[i]->stats().open_sessions; }

 private:
  ManualClock clock_;
  net::InprocHub hub_;
  int max_sessions_;
  std::vector<std::unique_ptr<StageLoop>> loops_;
  std::vector<std::unique_ptr<net::InprocTransport>> clients_;
  std::vector<Seen> seen_;
};

inline constexpr const char* kPrompt = "Once upon a time";

// The answer of the whole model in one stage, undisturbed.
inline std::vector<int32_t> one_stage_answer(int max_tokens) {
  SimRing ring(1);
  ring.plan(1, {0}, {{0, 6}});
  ring.generate(kPrompt, max_tokens);
  ring.settle();
  REQUIRE(ring.seen().done);
  REQUIRE(ring.seen().tokens.size() == static_cast<size_t>(max_tokens));
  return ring.seen().tokens;
}

}  // namespace ll::pipeline::test_ring
