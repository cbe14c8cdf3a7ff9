#include "pipeline/stage_server.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>
#include <unordered_map>
#include <zmq.hpp>

#include "common/log.h"
#include "engine/sampler.h"
#include "net/access_guard.h"
#include "net/curve.h"
#include "pipeline/hidden_codec.h"
#include "proto/data_messages.h"
#include "proto/limits.h"

namespace ll::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
using proto::DataMessage;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

SamplingParams to_params(const proto::SamplingWire& s) {
  return SamplingParams{static_cast<float>(s.temperature), static_cast<int>(s.top_k), static_cast<float>(s.top_p),
                        s.seed};
}

// One step waiting for this stage's shards.
struct WorkItem {
  uint64_t session = 0;
  StepInput input;
  bool sample = true;  // false: a replay step before the last; the tail drops its output
  proto::SamplingWire sampling;
  std::vector<proto::StageStat> stats;
  Clock::time_point enqueued;
};

// What the head remembers of a generation it serves.
struct HeadSession {
  std::string client;  // ROUTER routing id
  proto::GenerateMsg request;
  std::vector<int32_t> prompt;
  std::vector<int32_t> generated;
  TextStreamer streamer;
  std::string text;
  Clock::time_point started;
  Clock::time_point first_token;
  Clock::time_point last_reply;  // when the client last heard from us (keep-alive)
};

// A client that hears nothing for its stall timeout (llctl: 10 s) takes the head for lost. A long replay or prefill
// is silent work: the head tells the client it is alive (an empty `tokens`) when it has said nothing for this long.
constexpr double kClientKeepaliveMs = 2000;

}  // namespace

class StageServer::Loop {
 public:
  Loop(StageServerOptions options, zmq::context_t context, zmq::socket_t router,
       std::unique_ptr<net::AccessGuard> guard)
      : options_(std::move(options)),
        context_(std::move(context)),
        router_(std::move(router)),
        guard_(std::move(guard)) {
    next_session_ = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) << 8;
    speed_ = options_.emulated_speed;
    if (options_.emulated_egress.active())
      link_ = std::make_unique<LinkEmulator>(context_, options_.emulated_egress, options_.name);
  }

  void run() {
    auto last_sweep = Clock::now();
    while (!stopping_) {
      zmq::pollitem_t item{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0};
      try {
        zmq::poll(&item, 1, std::chrono::milliseconds(work_.empty() ? 20 : 0));
        apply_pending_config();  // after the wait: a plan set before a request arrived applies to it
        drain_incoming();
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM) break;
        LL_WARN(options_.name << ": data socket: " << e.what());
      }
      if (!work_.empty()) run_work();
      publish_sessions();
      if (ms_between(last_sweep, Clock::now()) > 500) {
        expire_idle_sessions();
        keep_clients_alive();
        last_sweep = Clock::now();
      }
    }
    router_.close();
    peers_.clear();
  }

  void set_config(std::shared_ptr<const StageConfig> config) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_config_ = std::move(config);
  }
  void stop() { stopping_ = true; }
  void abort_sessions(std::string reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_abort_ = std::move(reason);
  }
  void set_speed(double speed) { speed_ = speed > 0 ? speed : 1.0; }
  double speed() const { return speed_; }
  // How long the step in progress has run (0 when idle): the watchdog's view of a hung compute thread.
  double current_step_ms() const {
    const int64_t started = step_started_ns_.load();
    if (started == 0) return 0;
    return (Clock::now().time_since_epoch().count() - started) / 1e6;
  }
  StageStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  bool wait_until(const std::function<bool(const StageStats&)>& ready, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return stats_changed_.wait_for(lock, timeout, [&] { return ready(stats_); });
  }

 private:
  void apply_pending_config() {
    std::shared_ptr<const StageConfig> next;
    std::optional<std::string> abort;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      next.swap(pending_config_);
      abort.swap(pending_abort_);
    }
    if (abort) {  // the ring cannot continue: every client hears why, now
      for (auto& [id, session] : heads_) {
        reply(session.client, proto::DataErrorMsg{"unavailable", *abort});
        if (config_ && config_->shards) config_->shards->close_session(id);
        last_seen_.erase(id);
      }
      heads_.clear();
      work_.clear();
    }
    if (!next) return;
    // In-flight work of the old plan is void: other stages have dropped their caches too.
    if (config_ && config_->shards) {
      for (const auto& [id, _] : last_seen_) config_->shards->close_session(id);
    }
    last_seen_.clear();
    work_.clear();
    const bool same_model = config_ && config_->manifest && next->manifest &&
                            config_->manifest->shards.front().sha256 == next->manifest->shards.front().sha256 &&
                            config_->manifest->shards.back().sha256 == next->manifest->shards.back().sha256;
    config_ = std::move(next);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.plan_version = config_->plan_version;
      stats_.stage_compute_ms.clear();
    }
    LL_INFO(options_.name << ": stage " << config_->stage_index << " of " << config_->stage_count() << ", shards "
                          << config_->shards->first_shard() << ".." << config_->shards->last_shard() << ", plan "
                          << config_->plan_version);
    // Sessions in flight survive a re-plan: the head rebuilds each one by replaying its prompt and the tokens
    // generated so far through the new ring. Sampling depends only on (seed, position), so the continuation is the
    // one an undisturbed run would produce.
    if (!config_->is_head() || !same_model) {
      for (auto it = heads_.begin(); it != heads_.end();) finish((it++)->first, "replanned");
      return;
    }
    for (auto& [id, session] : heads_) replay(id, session);
  }

  void replay(uint64_t id, HeadSession& session) {
    if (Status opened = config_->shards->open_session(id); !opened.ok()) {
      LL_ERROR(options_.name << ": cannot replay session " << id << ": " << opened.error());
      return;
    }
    last_seen_[id] = Clock::now();
    std::vector<WorkItem> steps = rebuild_steps(id, session);
    LL_INFO(options_.name << ": session " << id << " replays " << session.prompt.size() + session.generated.size()
                          << " tokens (" << session.prompt.size() << " as a prefill, " << session.generated.size()
                          << " as decode rows, in " << steps.size() << " steps) on plan " << config_->plan_version);
    for (auto& step : steps) work_.push_back(std::move(step));
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.replayed_sessions;
  }

  // The steps that rebuild a session's caches from scratch: its prompt as the one prefill it was, then every token
  // generated so far as the one-token decode row it was — the same shapes, so bit for bit the same caches and the
  // same next token as the undisturbed run (StepInput; docs/pipeline.md, "Exact replay"). The rows go in steps of
  // kReplayStepRows so that the stages work on a replay at the same time (stage 2 on one step while stage 1 computes
  // the next); only the last step is sampled. The first step carries the prompt and the first rows together, so
  // that no step but the last of a replay is a single token (single tokens may be batched, and run after longer
  // steps of the same drain).
  static constexpr int kReplayStepRows = 64;
  static std::vector<WorkItem> rebuild_steps(uint64_t id, const HeadSession& session) {
    std::vector<int32_t> all = session.prompt;
    all.insert(all.end(), session.generated.begin(), session.generated.end());
    const int total = static_cast<int>(all.size());
    std::vector<WorkItem> steps;
    int begin = 0;
    int rows_begin = static_cast<int>(session.prompt.size());
    while (begin < total || steps.empty()) {
      const int end = std::min(total, rows_begin + kReplayStepRows);
      WorkItem item;
      item.session = id;
      item.input.start_pos = begin;
      item.input.tokens.assign(all.begin() + begin, all.begin() + end);
      item.input.decode_rows = end - rows_begin;
      item.sampling = session.request.sampling;
      item.enqueued = Clock::now();
      item.sample = end == total;
      steps.push_back(std::move(item));
      begin = rows_begin = end;
    }
    return steps;
  }

  void drain_incoming() {
    for (int budget = 0; budget < 256; ++budget) {
      std::vector<zmq::message_t> parts;
      zmq::message_t part;
      if (!router_.recv(part, zmq::recv_flags::dontwait)) return;
      parts.push_back(std::move(part));
      while (parts.back().more()) {
        zmq::message_t next;
        if (!router_.recv(next, zmq::recv_flags::none)) break;
        parts.push_back(std::move(next));
        if (parts.size() > 8) {  // drain and drop an over-long multipart
          while (parts.back().more()) {
            zmq::message_t skip;
            if (!router_.recv(skip, zmq::recv_flags::none)) break;
          }
          LL_WARN(options_.name << ": dropped a message with too many frames");
          parts.clear();
          break;
        }
      }
      if (parts.size() < 2) continue;
      std::string route = parts[0].to_string();
      size_t first = 1;
      if (parts[1].size() == 0 && parts.size() > 2) first = 2;  // REQ-style delimiter
      std::vector<std::string> frames;
      for (size_t i = first; i < parts.size(); ++i) frames.push_back(parts[i].to_string());
      auto message = proto::decode_data_message(frames);
      if (!message) {
        LL_WARN(options_.name << ": refused a data message: " << message.error());
        reply(route, proto::DataErrorMsg{"malformed", message.error()});
        continue;
      }
      handle(route, std::move(message).value());
      publish_sessions();  // before the next message's reply: a reply to a later message implies these figures
    }
  }

  void handle(const std::string& route, DataMessage message) {
    if (auto* m = std::get_if<proto::GenerateMsg>(&message)) return on_generate(route, std::move(*m));
    if (auto* m = std::get_if<proto::ActivationMsg>(&message)) return on_activation(std::move(*m));
    if (auto* m = std::get_if<proto::TokenMsg>(&message)) return on_token(*m);
    if (auto* m = std::get_if<proto::CancelMsg>(&message)) {
      if (heads_.count(m->session) && heads_[m->session].client == route) finish(m->session, "cancelled");
      return;
    }
    if (auto* m = std::get_if<proto::SessionEndMsg>(&message)) {
      auto head = heads_.find(m->session);
      if (head != heads_.end()) {
        // A stage failed this session's step and dropped it: the client hears so now, instead of waiting in silence.
        reply(head->second.client, proto::DataErrorMsg{"internal",
                                                       "a stage of the ring failed a step of this "
                                                       "generation (its device's log says why)"});
        finish(m->session, "client_gone");  // frees the session here and on every stage, sends nothing more
        return;
      }
      // Remember it: an activation of this session may still be on its way from another stage (no ordering across
      // senders), and must not open a fresh KV cache here.
      ended_[m->session] = Clock::now();
      return close_session(m->session);
    }
    if (options_.handler &&
        (std::holds_alternative<proto::PlanMsg>(message) || std::holds_alternative<proto::FetchMsg>(message) ||
         std::holds_alternative<proto::LoadProgressMsg>(message))) {
      auto answer = options_.handler(route, std::move(message));
      if (answer) reply(route, *answer);
      return;
    }
    reply(route,
          proto::DataErrorMsg{"bad_request", std::string(proto::data_message_name(message)) + " is not a request"});
  }

  // --- head: clients -------------------------------------------------------------------------------------------
  void on_generate(const std::string& route, proto::GenerateMsg request) {
    if (!config_ || !config_->is_head() || !config_->tokenizer) {
      return reject(route, proto::DataErrorMsg{"not_ready", "this device is not the head stage of a loaded model"});
    }
    const SamplingParams params = to_params(request.sampling);
    if (Status valid = validate_sampling(params); !valid.ok()) {
      return reject(route, proto::DataErrorMsg{"bad_request", valid.error()});
    }
    std::vector<int32_t> prompt = config_->tokenizer->encode(request.prompt, /*add_bos=*/true);
    const int context = config_->manifest->hparams.context_length;
    if (static_cast<int>(prompt.size()) >= context) {
      return reject(route, proto::DataErrorMsg{"bad_request", "prompt is " + std::to_string(prompt.size()) +
                                                                  " tokens; the model's context holds " +
                                                                  std::to_string(context)});
    }
    const auto& resume = request.resume_tokens;
    const int64_t vocab = config_->manifest->hparams.vocab_size;
    if (static_cast<int64_t>(resume.size()) >= request.max_tokens && !resume.empty()) {
      return reject(route, proto::DataErrorMsg{"bad_request", "resume: already max_tokens tokens"});
    }
    if (prompt.size() + resume.size() >= static_cast<size_t>(context)) {
      return reject(route, proto::DataErrorMsg{"bad_request", "resume: prompt and tokens fill the context"});
    }
    for (int64_t t : resume) {
      if (t < 0 || t >= vocab) return reject(route, proto::DataErrorMsg{"bad_request", "resume: token out of range"});
    }
    if (heads_.size() >= static_cast<size_t>(options_.max_sessions)) {
      return reject(route, proto::DataErrorMsg{"busy", "too many sessions in flight; retry later"});
    }
    const uint64_t id = ++next_session_;
    if (Status opened = config_->shards->open_session(id); !opened.ok()) {
      return reject(route, proto::DataErrorMsg{"internal", opened.error()});
    }
    last_seen_[id] = Clock::now();
    HeadSession& session = heads_[id];
    session.client = route;
    session.request = std::move(request);
    session.prompt = prompt;
    session.started = session.last_reply = Clock::now();
    // A resumed generation: the streamer is primed with the pieces the client already has (their text is not sent
    // again; bytes of a character the lost head still held back come out with the next piece).
    for (int64_t t : session.request.resume_tokens) {
      const int32_t previous = session.generated.empty() ? prompt.back() : session.generated.back();
      session.text += session.streamer.push(config_->tokenizer->decode_piece(previous, static_cast<int32_t>(t)));
      session.generated.push_back(static_cast<int32_t>(t));
    }
    if (!session.generated.empty()) session.first_token = session.started;
    reply(route, proto::StartedMsg{id, std::vector<int64_t>(prompt.begin(), prompt.end())});
    if (session.request.max_tokens == 0) return finish(id, "max_tokens");
    for (auto& step : rebuild_steps(id, session)) work_.push_back(std::move(step));
  }

  void on_token(const proto::TokenMsg& m) {
    auto it = heads_.find(m.session);
    if (it == heads_.end() || !config_ || m.plan_version != config_->plan_version) return;  // ended or stale
    record_stage_stats(m.stats);
    accept_token(m.session, it->second, static_cast<int32_t>(m.token), static_cast<int>(m.position));
  }

  void accept_token(uint64_t id, HeadSession& s, int32_t token, int position) {
    last_seen_[id] = Clock::now();
    const Tokenizer& tok = *config_->tokenizer;
    if (s.generated.empty()) s.first_token = Clock::now();
    if (!s.request.ignore_eos && (token == tok.eos_id() || token == tok.bos_id())) return finish(id, "eos");
    const int32_t previous = s.generated.empty() ? s.prompt.back() : s.generated.back();
    s.generated.push_back(token);
    std::string piece = s.streamer.push(tok.decode_piece(previous, token));
    s.text += piece;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.tokens_generated;
    }
    if (!reply(s.client, proto::TokensMsg{id, {token}, piece})) return finish(id, "client_gone");
    s.last_reply = Clock::now();
    if (static_cast<int64_t>(s.generated.size()) >= s.request.max_tokens) return finish(id, "max_tokens");
    if (position + 1 >= config_->manifest->hparams.context_length) return finish(id, "context");
    WorkItem item;
    item.session = id;
    item.input.start_pos = position;
    item.input.tokens = {token};
    item.sampling = s.request.sampling;
    item.enqueued = Clock::now();
    work_.push_back(std::move(item));
  }

  void finish(uint64_t id, const std::string& reason) {
    auto it = heads_.find(id);
    if (it == heads_.end()) return;
    HeadSession& s = it->second;
    if (reason != "client_gone") {
      std::string rest = s.streamer.flush();
      if (!rest.empty()) {
        s.text += rest;
        reply(s.client, proto::TokensMsg{id, {}, rest});
      }
      proto::DoneMsg done;
      done.session = id;
      done.stop_reason = reason;
      done.prompt_tokens.assign(s.prompt.begin(), s.prompt.end());
      done.tokens.assign(s.generated.begin(), s.generated.end());
      done.text = s.text;
      const auto now = Clock::now();
      done.prefill_s = s.generated.empty() ? 0 : ms_between(s.started, s.first_token) / 1000;
      done.decode_s = s.generated.size() > 1 ? ms_between(s.first_token, now) / 1000 : 0;
      done.stages = config_ ? config_->stage_count() : 0;
      reply(s.client, done);
    }
    heads_.erase(it);
    close_session(id);
    if (config_) {  // every other stage frees the session's KV cache
      for (int i = 1; i < config_->stage_count(); ++i) send(config_->stage_endpoints[i], proto::SessionEndMsg{id});
    }
    work_.erase(std::remove_if(work_.begin(), work_.end(), [id](const WorkItem& w) { return w.session == id; }),
                work_.end());
  }

  // --- every stage: activations --------------------------------------------------------------------------------
  void on_activation(proto::ActivationMsg m) {
    if (!config_ || config_->is_head()) return;
    if (m.plan_version != config_->plan_version) {
      LL_DEBUG(options_.name << ": dropped an activation of plan " << m.plan_version);
      return;
    }
    auto hidden = frame_to_hidden(m.hidden, config_->manifest->hparams.dim);
    if (!hidden) {
      LL_WARN(options_.name << ": refused an activation: " << hidden.error());
      return;
    }
    if (ended_.count(m.session)) return;  // its head already ended it
    if (!last_seen_.count(m.session)) {
      if (last_seen_.size() >= static_cast<size_t>(options_.max_sessions)) {
        LL_WARN(options_.name << ": session limit reached; dropped session " << m.session);
        return;
      }
      if (Status opened = config_->shards->open_session(m.session); !opened.ok()) {
        LL_WARN(options_.name << ": " << opened.error());
        return;
      }
    }
    last_seen_[m.session] = Clock::now();
    WorkItem item;
    item.session = m.session;
    item.input.start_pos = static_cast<int>(m.start_pos);
    item.input.hidden = std::move(hidden).value();
    item.input.decode_rows = static_cast<int>(m.decode_rows);
    item.sample = m.sample;
    item.sampling = m.sampling;
    item.stats = std::move(m.stats);
    item.enqueued = Clock::now();
    work_.push_back(std::move(item));
  }

  void keep_clients_alive() {
    const auto now = Clock::now();
    for (auto& [id, session] : heads_) {
      if (ms_between(session.last_reply, now) < kClientKeepaliveMs) continue;
      reply(session.client, proto::TokensMsg{id, {}, ""});
      session.last_reply = now;
    }
  }

  void close_session(uint64_t id) {
    if (last_seen_.erase(id) && config_ && config_->shards) config_->shards->close_session(id);
  }

  void expire_idle_sessions() {
    const auto now = Clock::now();
    for (auto it = ended_.begin(); it != ended_.end();) {
      it = ms_between(it->second, now) > 600000 ? ended_.erase(it) : std::next(it);
    }
    std::vector<uint64_t> idle;
    for (const auto& [id, seen] : last_seen_) {
      if (ms_between(seen, now) > options_.session_idle_timeout_s * 1000) idle.push_back(id);
    }
    for (uint64_t id : idle) {
      LL_INFO(options_.name << ": session " << id << " idle for " << options_.session_idle_timeout_s << " s: freed");
      if (heads_.count(id))
        finish(id, "timeout");
      else
        close_session(id);
    }
    publish_sessions();
  }

  // The stats others read (and wait on) follow the sessions this stage holds, and wake whoever waits.
  void publish_sessions() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.open_sessions = config_ && config_->shards ? config_->shards->open_sessions() : 0;
    }
    stats_changed_.notify_all();
  }

  // --- compute -------------------------------------------------------------------------------------------------
  void run_work() {
    std::deque<WorkItem> items;
    items.swap(work_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.queue_depth = items.size();
    }
    std::vector<WorkItem> batch;
    for (auto& item : items) {
      if (!last_seen_.count(item.session)) continue;  // ended while waiting
      if (item.input.step_tokens() == 1 && batch.size() < static_cast<size_t>(options_.max_batch)) {
        batch.push_back(std::move(item));
      } else {
        std::vector<WorkItem> one;
        one.push_back(std::move(item));
        compute(one);
      }
    }
    if (!batch.empty()) compute(batch);
  }

  void compute(std::vector<WorkItem>& items) {
    const auto begin = Clock::now();
    step_started_ns_ = begin.time_since_epoch().count();
    Result<std::vector<Tensor32>> outputs = std::vector<Tensor32>{};
    if (items.size() == 1) {
      auto out = config_->shards->forward(items[0].session, items[0].input);
      if (out)
        outputs.value().push_back(std::move(out).value());
      else
        outputs = out.take_error();
    } else {
      std::vector<uint64_t> ids;
      std::vector<StepInput> inputs;
      for (auto& item : items) {
        ids.push_back(item.session);
        inputs.push_back(std::move(item.input));
      }
      outputs = config_->shards->forward_batch(ids, inputs);
      for (size_t i = 0; i < items.size(); ++i) items[i].input = std::move(inputs[i]);
    }
    double compute_ms = ms_between(begin, Clock::now());
    const double speed = speed_;
    if (speed < 1.0) {  // emulate a slower device: wait in proportion to the compute really done
      const double extra_ms = compute_ms * (1.0 / speed - 1.0);
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(extra_ms * 1000)));
      compute_ms += extra_ms;
    }
    step_started_ns_ = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.steps;
      if (items.size() > 1) stats_.batched_steps += items.size();
      stats_.compute_ms_avg = stats_.steps == 1 ? compute_ms : 0.9 * stats_.compute_ms_avg + 0.1 * compute_ms;
    }
    if (!outputs) {
      LL_ERROR(options_.name << ": step failed: " << outputs.error());
      for (auto& item : items) {
        if (heads_.count(item.session)) {
          finish(item.session, "error");
        } else {
          close_session(item.session);
          // Tell the head, which tells the client (a session_end from a stage means "dropped").
          if (config_ && config_->stage_count() > 0)
            send(config_->stage_endpoints[0], proto::SessionEndMsg{item.session});
        }
      }
      return;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      WorkItem& item = items[i];
      item.stats.push_back(proto::StageStat{config_->stage_index, compute_ms, ms_between(item.enqueued, begin),
                                            static_cast<int64_t>(items.size())});
      route_output(item, std::move((*outputs)[i]));
    }
  }

  void route_output(WorkItem& item, Tensor32 output) {
    const int position = item.input.start_pos + item.input.step_tokens();
    if (config_->is_tail()) {
      if (!item.sample) return;  // a replay step before the last: its caches were all it was for
      const int32_t token = Sampler(to_params(item.sampling)).sample(output.values, position);
      if (config_->is_head()) {
        auto it = heads_.find(item.session);
        if (it != heads_.end()) {
          record_stage_stats(item.stats);
          accept_token(item.session, it->second, token, position);
        }
        return;
      }
      send(config_->stage_endpoints[0],
           proto::TokenMsg{item.session, config_->plan_version, position, token, std::move(item.stats)});
      return;
    }
    proto::ActivationMsg next;
    next.session = item.session;
    next.plan_version = config_->plan_version;
    next.start_pos = item.input.start_pos;
    next.decode_rows = item.input.decode_rows;
    next.sample = item.sample;
    next.sampling = item.sampling;
    next.stats = std::move(item.stats);
    next.hidden = hidden_to_frame(output, config_->wire);
    send(config_->stage_endpoints[config_->stage_index + 1], next);
  }

  void record_stage_stats(const std::vector<proto::StageStat>& stats) {
    if (options_.on_stage_stats && config_) options_.on_stage_stats(config_->plan_version, stats);
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& s : stats) {
      auto [it, inserted] = stats_.stage_compute_ms.emplace(static_cast<int>(s.stage), s.compute_ms);
      if (!inserted) it->second = 0.8 * it->second + 0.2 * s.compute_ms;
    }
  }

  void reject(const std::string& route, const proto::DataErrorMsg& error) {
    LL_INFO(options_.name << ": refused a generation: " << error.message);
    reply(route, error);
  }

  // --- sockets -------------------------------------------------------------------------------------------------
  bool reply(const std::string& route, const DataMessage& message) {
    auto frames = proto::encode_data_message(message);
    if (!frames) {
      LL_ERROR(options_.name << ": cannot encode " << proto::data_message_name(message) << ": " << frames.error());
      return false;
    }
    try {
      if (!router_.send(zmq::buffer(route), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
      for (size_t i = 0; i < frames->size(); ++i) {
        auto flags = i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
        router_.send(zmq::buffer((*frames)[i]), flags);
      }
      return true;
    } catch (const zmq::error_t& e) {  // EHOSTUNREACH: the client went away (ROUTER_MANDATORY)
      LL_DEBUG(options_.name << ": reply not delivered: " << e.what());
      return false;
    }
  }

  void send(const std::string& endpoint, const DataMessage& message) {
    auto frames = proto::encode_data_message(message);
    if (!frames) {
      LL_ERROR(options_.name << ": cannot encode " << proto::data_message_name(message) << ": " << frames.error());
      return;
    }
    if (link_) {  // the emulated uplink's thread delivers it when a real link would have
      const size_t bytes = link_->send(endpoint, std::move(frames).value());
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.bytes_sent[endpoint] += bytes;
      return;
    }
    try {
      zmq::socket_t& socket = peer(endpoint);
      uint64_t bytes = 0;
      for (size_t i = 0; i < frames->size(); ++i) {
        auto flags = i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
        socket.send(zmq::buffer((*frames)[i]), flags | zmq::send_flags::dontwait);
        bytes += (*frames)[i].size();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.bytes_sent[endpoint] += bytes;
    } catch (const zmq::error_t& e) {
      LL_WARN(options_.name << ": cannot send to " << endpoint << ": " << e.what());
    }
  }

  zmq::socket_t& peer(const std::string& endpoint) {
    auto it = peers_.find(endpoint);
    if (it != peers_.end()) return it->second;
    zmq::socket_t socket(context_, zmq::socket_type::dealer);
    net::secure_client(socket);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
    socket.set(zmq::sockopt::sndhwm, 10000);
    socket.connect(endpoint);
    return peers_.emplace(endpoint, std::move(socket)).first->second;
  }

  const StageServerOptions options_;
  zmq::context_t context_;
  zmq::socket_t router_;
  std::unique_ptr<net::AccessGuard> guard_;  // before the context goes
  std::unordered_map<std::string, zmq::socket_t> peers_;
  std::unique_ptr<LinkEmulator> link_;  // declared after context_: closes its sockets before the context ends
  std::shared_ptr<const StageConfig> config_;
  std::deque<WorkItem> work_;
  std::unordered_map<uint64_t, HeadSession> heads_;
  std::unordered_map<uint64_t, Clock::time_point> last_seen_;  // sessions open on this stage
  std::unordered_map<uint64_t, Clock::time_point> ended_;      // sessions their head ended (kept 10 min)
  uint64_t next_session_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<double> speed_{1.0};
  std::atomic<int64_t> step_started_ns_{0};

  mutable std::mutex mutex_;                       // guards pending_config_, pending_abort_ and stats_
  mutable std::condition_variable stats_changed_;  // notified after each message and each loop turn
  std::shared_ptr<const StageConfig> pending_config_;
  std::optional<std::string> pending_abort_;
  StageStats stats_;
};

Result<std::unique_ptr<StageServer>> StageServer::start(const StageServerOptions& options) {
  try {
    zmq::context_t context(1);
    zmq::socket_t router(context, zmq::socket_type::router);
    router.set(zmq::sockopt::router_mandatory, 1);
    router.set(zmq::sockopt::linger, 0);
    router.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
    router.set(zmq::sockopt::rcvhwm, 10000);
    net::secure_server(router);
    LL_ASSIGN_OR_RETURN(auto guard, net::AccessGuard::start(context, {&router}, "data"));
    router.bind(options.bind);
    std::string endpoint = router.get(zmq::sockopt::last_endpoint);
    std::unique_ptr<StageServer> server(new StageServer(endpoint));
    server->loop_ = std::make_unique<Loop>(options, std::move(context), std::move(router), std::move(guard));
    server->thread_ = std::thread([loop = server->loop_.get()] { loop->run(); });
    return server;
  } catch (const zmq::error_t& e) {
    return make_error("cannot bind the data endpoint " + options.bind + ": " + e.what());
  }
}

StageServer::StageServer(std::string endpoint) : endpoint_(std::move(endpoint)) {}

StageServer::~StageServer() { stop(); }

void StageServer::configure(std::shared_ptr<const StageConfig> config) { loop_->set_config(std::move(config)); }

StageStats StageServer::stats() const {
  StageStats stats = loop_->stats();
  stats.emulated_speed = loop_->speed();
  return stats;
}

void StageServer::set_emulated_speed(double speed) { loop_->set_speed(speed); }
void StageServer::abort_sessions(const std::string& reason) { loop_->abort_sessions(reason); }
double StageServer::emulated_speed() const { return loop_->speed(); }
double StageServer::current_step_ms() const { return loop_->current_step_ms(); }
bool StageServer::wait_until(const std::function<bool(const StageStats&)>& ready,
                             std::chrono::milliseconds timeout) const {
  return loop_->wait_until(ready, timeout);
}

void StageServer::stop() {
  if (!loop_) return;
  loop_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ll::pipeline
