#include "pipeline/stage_loop.h"

#include <algorithm>

#include "common/log.h"
#include "common/random_id.h"
#include "engine/sampler.h"
#include "pipeline/hidden_codec.h"
#include "pipeline/step_trace.h"

namespace ll::pipeline {
namespace {

using proto::DataMessage;

// A client that hears nothing for its stall timeout (llctl: 10 s) takes the head for lost. A long replay or prefill
// is silent work: the head tells the client it is alive (an empty `tokens`) when it has said nothing for this long.
constexpr Duration kClientKeepalive = std::chrono::milliseconds(2000);
constexpr Duration kSweepInterval = std::chrono::milliseconds(500);
constexpr Duration kEndedMemory = std::chrono::minutes(10);
constexpr int kMessagesPerTurn = 256;

SamplingParams to_params(const proto::SamplingWire& s) {
  return SamplingParams{static_cast<float>(s.temperature), static_cast<int>(s.top_k), static_cast<float>(s.top_p),
                        s.seed};
}

bool same_model(const StageConfig* a, const StageConfig& b) {
  return a && a->manifest && b.manifest && a->manifest->shards.front().sha256 == b.manifest->shards.front().sha256 &&
         a->manifest->shards.back().sha256 == b.manifest->shards.back().sha256;
}

// Messages that answer a request of ours (or report an error): never answered back, or two stages could trade
// "not a request" errors forever.
bool is_answer(const DataMessage& m) {
  return std::holds_alternative<proto::DataErrorMsg>(m) || std::holds_alternative<proto::StartedMsg>(m) ||
         std::holds_alternative<proto::TokensMsg>(m) || std::holds_alternative<proto::ChunkMsg>(m);
}

// Steps of one session that can be waiting at a stage at once: its prompt's chunks or a replay's steps (at least
// kMinPrefillChunk rows each but the last) plus one.
size_t steps_per_session(const StageConfig& c) {
  return static_cast<size_t>(c.manifest->hparams.context_length) / kMinPrefillChunk + 2;
}

}  // namespace

StageLoop::StageLoop(StageServerOptions options, std::unique_ptr<net::Transport> transport, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      transport_(std::move(transport)),
      scheduler_(clock, options_.max_batch, options_.emulated_speed),
      heads_(clock, options_.prefill_chunk) {
  last_sweep_ = clock_.now();
}

void StageLoop::configure(std::shared_ptr<const StageConfig> config) {
  if (!config) return;
  std::lock_guard<std::mutex> lock(mutex_);
  // Plans are applied by threads that can race (a loader finishing late): an older plan never replaces a newer one.
  if (pending_config_ && pending_config_->plan_version > config->plan_version) return;
  pending_config_ = std::move(config);
}

void StageLoop::leave_ring(uint64_t plan_version) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_leave_ = plan_version;
}

void StageLoop::abort_sessions(std::string reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_abort_ = std::move(reason);
}

StageStats StageLoop::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  StageStats s = stats_;
  s.emulated_speed = scheduler_.speed();
  return s;
}

bool StageLoop::wait_until(const std::function<bool(const StageStats&)>& ready,
                           std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return stats_changed_.wait_for(lock, timeout, [&] { return ready(stats_); });
}

void StageLoop::turn(Duration wait) {
  std::optional<net::Incoming> in = transport_->receive(scheduler_.empty() ? wait : Duration(0));
  apply_pending_config();  // after the wait: a plan set before a request arrived applies to it
  for (int n = 0; in && n < kMessagesPerTurn; ++n) {
    if (in->too_many_frames) {
      LL_WARN(options_.name << ": dropped a message with too many frames");
    } else if (auto message = proto::decode_data_message(in->frames); !message) {
      LL_WARN(options_.name << ": refused a data message: " << message.error());
      const char* code = proto::speaks_other_version(in->frames) ? "unsupported_version" : "malformed";
      if (in->via_peer.empty()) reply(*in, proto::DataErrorMsg{code, message.error()});
    } else {
      handle(*in, std::move(message).value());
    }
    publish();  // before the next message's reply: a reply to a later message implies these figures
    if (n + 1 < kMessagesPerTurn) in = transport_->receive(Duration(0));
  }
  open_deferred();
  if (!scheduler_.empty() && config_ && config_->shards) {
    scheduler_.run(
        *config_->shards, [this](uint64_t id) { return last_seen_.count(id) != 0; },
        [this](StepOutcome& outcome) { on_step_done(outcome); });
  }
  if (clock_.now() - last_sweep_ >= kSweepInterval) {
    expire_idle_sessions();
    keep_clients_alive();
    last_sweep_ = clock_.now();
  }
  publish();
}

void StageLoop::apply_pending_config() {
  std::shared_ptr<const StageConfig> next;
  std::optional<std::string> abort;
  std::optional<uint64_t> leave;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    next.swap(pending_config_);
    abort.swap(pending_abort_);
    leave.swap(pending_leave_);
  }
  if (leave && config_ && *leave > config_->plan_version && (!next || next->plan_version < *leave)) {
    LL_INFO(options_.name << ": not a stage of plan " << *leave << ": sessions move to the new head");
    for (uint64_t id : heads_.ids()) finish(id, "head_moved");
    if (config_->shards) {
      for (const auto& [id, _] : last_seen_) config_->shards->close_session(id);
    }
    last_seen_.clear();
    deferred_.clear();
    scheduler_.clear();
    config_.reset();
    next.reset();  // older than the plan this device left
  }
  if (abort) {  // the ring cannot continue: every client hears why, now
    for (uint64_t id : heads_.ids()) {
      if (auto ending = heads_.end(id, "client_gone", 0))
        reply(ending->client, proto::DataErrorMsg{"unavailable", *abort});
      close_session(id);
    }
    scheduler_.clear();
    broken_ = std::move(abort);  // until a new plan: a generation admitted now would wait on a ring that is gone
  }
  if (!next) return;
  broken_.reset();
  if (config_ && next->plan_version < config_->plan_version) {
    LL_WARN(options_.name << ": ignored plan " << next->plan_version << ", older than plan " << config_->plan_version
                          << " in force");
    return;
  }
  // In-flight work of the old plan is void: other stages have dropped their caches too.
  if (config_ && config_->shards) {
    for (const auto& [id, _] : last_seen_) config_->shards->close_session(id);
  }
  last_seen_.clear();
  order_.clear();
  deferred_.clear();
  scheduler_.clear();
  const bool model_kept = same_model(config_.get(), *next);
  config_ = std::move(next);
  undrafted_steps_ = options_.undrafted_steps_per_plan;
  stage_compute_ms_.clear();
  LL_INFO(options_.name << ": stage " << config_->stage_index << " of " << config_->stage_count() << ", shards "
                        << config_->shards->first_shard() << ".." << config_->shards->last_shard() << ", plan "
                        << config_->plan_version);
  // Sessions in flight survive a re-plan: the head rebuilds each one by replaying its prompt and the tokens
  // generated so far through the new ring. Sampling depends only on (seed, position), so the continuation is the
  // one an undisturbed run would produce.
  if (!config_->is_head() || !model_kept) {  // "head_moved": the client resumes at the new head
    for (uint64_t id : heads_.ids()) finish(id, model_kept ? "head_moved" : "replanned");
    return;
  }
  for (uint64_t id : heads_.ids()) replay(id);
}

void StageLoop::replay(uint64_t id) {
  if (Status opened = config_->shards->open_session(id); !opened.ok()) {
    LL_ERROR(options_.name << ": cannot replay session " << id << ": " << opened.error());
    return;
  }
  last_seen_[id] = clock_.now();
  std::vector<WorkItem> steps = heads_.rebuild_steps(id);
  HeadSession& session = *heads_.find(id);
  session.speculation.in_flight.clear();  // a draft of the old plan is void; the replay's last step drafts nothing
  LL_INFO(options_.name << ": session " << id << " replays " << session.prompt.size() + session.generated.size()
                        << " tokens (" << session.prompt.size() << " as a prefill, " << session.generated.size()
                        << " as decode rows, in " << steps.size() << " steps) on plan " << config_->plan_version);
  for (auto& step : steps) scheduler_.push(std::move(step));
  ++replayed_sessions_;
}

void StageLoop::handle(const net::Incoming& from, DataMessage message) {
  if (auto* m = std::get_if<proto::GenerateMsg>(&message)) return on_generate(from, std::move(*m));
  if (auto* m = std::get_if<proto::CancelMsg>(&message)) {
    // Only the connection and key that opened a session may end it (docs/security.md, "Sessions and admission").
    HeadSession* session = heads_.find(m->session);
    if (session && same_client(session->client, from)) finish(m->session, "cancelled");
    return;
  }
  const bool ring_message = std::holds_alternative<proto::ActivationMsg>(message) ||
                            std::holds_alternative<proto::TokenMsg>(message) ||
                            std::holds_alternative<proto::SessionEndMsg>(message);
  if (ring_message && !net::permits(from.sender.roles, net::Role::kDevice)) {
    // Hidden states, tokens and session ends travel between the ring's devices only: a client key could otherwise
    // write into another user's generation or end it.
    LL_WARN(options_.name << ": refused " << proto::data_message_name(message) << " from '" << from.sender.name
                          << "', a key without the device role");
    if (from.via_peer.empty()) {
      reply(from, proto::DataErrorMsg{"forbidden", std::string(proto::data_message_name(message)) +
                                                       " is sent between devices only; this key lacks the device "
                                                       "role"});
    }
    return;
  }
  if (auto* m = std::get_if<proto::ActivationMsg>(&message)) return on_activation(std::move(*m));
  if (auto* m = std::get_if<proto::TokenMsg>(&message)) return on_token(*m);
  if (auto* m = std::get_if<proto::SessionEndMsg>(&message)) return on_session_end(m->session);
  if (is_answer(message) || !from.via_peer.empty()) {
    if (auto* e = std::get_if<proto::DataErrorMsg>(&message))
      LL_WARN(options_.name << ": a peer refused a message: " << e->code << ": " << e->message);
    return;
  }
  const bool deploy = std::holds_alternative<proto::PlanMsg>(message) ||
                      std::holds_alternative<proto::FetchMsg>(message) ||
                      std::holds_alternative<proto::LoadProgressMsg>(message);
  reply(from, proto::DataErrorMsg{"bad_request", std::string(proto::data_message_name(message)) +
                                                     (deploy ? " goes to the device's deploy endpoint, not its data "
                                                               "endpoint"
                                                             : " is not a request")});
}

// --- head: clients -------------------------------------------------------------------------------------------
void StageLoop::on_generate(const net::Incoming& from, proto::GenerateMsg request) {
  if (!config_) {
    reply(from, proto::DataErrorMsg{"not_ready", "this device is not the head stage of a loaded model"});
    return;
  }
  if (broken_) {
    reply(from, proto::DataErrorMsg{"unavailable", *broken_});
    return;
  }
  auto checked = heads_.check(request, *config_, static_cast<size_t>(std::max(1, config_->max_sessions)));
  if (auto* refusal = std::get_if<proto::DataErrorMsg>(&checked)) {
    LL_INFO(options_.name << ": refused a generation: " << refusal->message);
    reply(from, *refusal);
    return;
  }
  auto speculation = resolve_speculation(request, options_.speculation, {&ngram_, options_.draft_model.get()});
  if (auto* refusal = std::get_if<proto::DataErrorMsg>(&speculation)) {
    reply(from, *refusal);
    return;
  }
  std::vector<int32_t> prompt = std::move(std::get<std::vector<int32_t>>(checked));
  // Unguessable, and never one this stage still knows of: an id is all a cancel or a late message names.
  uint64_t id = random_nonzero_u64();
  while (last_seen_.count(id) || ended_.count(id) || heads_.contains(id)) id = random_nonzero_u64();
  if (Status opened = config_->shards->open_session(id); !opened.ok()) {
    reply(from, proto::DataErrorMsg{"internal", opened.error()});
    return;
  }
  last_seen_[id] = clock_.now();
  HeadSession& session = heads_.open(id, from, std::move(request), prompt, *config_->tokenizer);
  session.speculation = std::move(std::get<SessionSpeculation>(speculation));
  LL_INFO(options_.name << ": session " << id << " admitted for "
                        << (from.sender.name.empty() ? std::string("a local client") : "'" + from.sender.name + "'")
                        << " (" << heads_.size() << " of " << config_->max_sessions << " in flight)");
  reply(from, proto::StartedMsg{id, std::vector<int64_t>(prompt.begin(), prompt.end())});
  if (session.request.max_tokens == 0) return finish(id, "max_tokens");
  for (auto& step : heads_.rebuild_steps(id)) scheduler_.push(std::move(step));
}

void StageLoop::on_token(const proto::TokenMsg& m) {
  if (!heads_.contains(m.session) || !config_ || m.plan_version != config_->plan_version) return;  // ended or stale
  record_stage_stats(m.session, m.stats);
  std::optional<proto::StepTrace> trace;
  if (traced(m.session)) trace = step_times_.returned(m.session, m.position, m.stats, clock_.now());
  take_verified(m.session, m.accepted, static_cast<int32_t>(m.token), static_cast<int>(m.position), std::move(trace));
}

void StageLoop::take_verified(uint64_t id, int64_t accepted, int32_t token, int position,
                              std::optional<proto::StepTrace> trace) {
  auto tokens = take_verdict(heads_.find(id)->speculation, accepted, token, position);
  if (!tokens) {
    LL_WARN(options_.name << ": session " << id << ": " << tokens.error());
    return finish(id, "error");
  }
  // Each token is streamed as decoding one by one would have streamed it; the step's trace rides on its last.
  const int first = position - static_cast<int>(accepted);
  for (size_t i = 0; i < tokens->size(); ++i) {
    const bool last = i + 1 == tokens->size();
    if (!take_token(id, (*tokens)[i], first + static_cast<int>(i), last, last ? std::move(trace) : std::nullopt))
      return;
  }
}

bool StageLoop::take_token(uint64_t id, int32_t token, int position, bool last_of_step,
                           std::optional<proto::StepTrace> trace) {
  last_seen_[id] = clock_.now();
  TokenOutcome outcome = heads_.accept(id, token, position, *config_);
  if (outcome.streams) {
    ++tokens_generated_;
    proto::TokensMsg piece{id, {token}, outcome.piece, std::move(trace)};
    if (!reply(heads_.find(id)->client, piece)) {
      finish(id, "client_gone");
      return false;
    }
  }
  if (outcome.finish_reason) {
    finish(id, *outcome.finish_reason);
    return false;
  }
  if (outcome.next_step && last_of_step) {
    if (undrafted_steps_ > 0) {
      --undrafted_steps_;
    } else {
      heads_.draft_next(id, *outcome.next_step, *config_);
    }
    scheduler_.push(std::move(*outcome.next_step));
  }
  return true;
}

void StageLoop::finish(uint64_t id, const std::string& reason) {
  std::optional<Ending> ending = heads_.end(id, reason, config_ ? config_->stage_count() : 0);
  if (!ending) return;
  if (reason != "client_gone") {
    if (!ending->rest.empty()) reply(ending->client, proto::TokensMsg{id, {}, ending->rest});
    reply(ending->client, ending->done);
  }
  close_session(id);
  if (config_) {  // every other stage frees the session's KV cache
    for (int i = 1; i < config_->stage_count(); ++i) send(config_->stage_endpoints[i], proto::SessionEndMsg{id});
  }
  scheduler_.drop_session(id);
}

void StageLoop::on_session_end(uint64_t id) {
  if (heads_.contains(id)) {
    // A stage failed this session's step and dropped it: the client hears so now, instead of waiting in silence.
    reply(heads_.find(id)->client,
          proto::DataErrorMsg{"internal",
                              "a stage of the ring failed a step of this generation (its device's log says why)"});
    finish(id, "client_gone");  // frees the session here and on every stage, sends nothing more
    return;
  }
  // Remember it: an activation of this session may still be on its way from another stage (no ordering across
  // senders), and must not open a fresh KV cache here.
  ended_[id] = clock_.now();
  close_session(id);
  scheduler_.drop_session(id);
}

// --- every stage: activations --------------------------------------------------------------------------------
void StageLoop::on_activation(proto::ActivationMsg m) {
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
  const size_t max_sessions = static_cast<size_t>(std::max(1, config_->max_sessions));
  const size_t max_deferred = max_sessions * steps_per_session(*config_);
  const bool behind_waiting_prefill =
      !last_seen_.count(m.session) &&
      std::any_of(deferred_.begin(), deferred_.end(), [&](const auto& d) { return d.session == m.session; });
  if (behind_waiting_prefill && deferred_.size() < max_deferred) {  // a replay's later steps wait behind its first
    deferred_.push_back(std::move(m));
    return;
  }
  if (!last_seen_.count(m.session)) {
    // A cache is opened only for a session the head admitted: its first activation is the head's prefill (position
    // 0), and the plan's max_sessions caches are all this stage reserved memory for.
    if (m.start_pos != 0) {
      LL_WARN(options_.name << ": dropped an activation at position " << m.start_pos << " of session " << m.session
                            << ", which is not open here");
      return;
    }
    if (last_seen_.size() >= max_sessions) {
      // The head admitted it, so a session it ended is on its way out of here: its session_end and this prefill
      // come by different connections, in either order. The prefill waits for the slot (a bounded wait).
      if (deferred_.size() < max_deferred) {
        LL_DEBUG(options_.name << ": session " << m.session << " waits for one of the plan's " << max_sessions
                               << " caches");
        deferred_.push_back(std::move(m));
        return;
      }
      LL_WARN(options_.name << ": the plan's " << max_sessions << " sessions are open here and " << deferred_.size()
                            << " wait; refused session " << m.session);
      send(config_->stage_endpoints[0], proto::SessionEndMsg{m.session});  // the head tells its client
      return;
    }
    if (Status opened = config_->shards->open_session(m.session); !opened.ok()) {
      LL_WARN(options_.name << ": " << opened.error());
      send(config_->stage_endpoints[0], proto::SessionEndMsg{m.session});
      return;
    }
  }
  // The queue holds at most what the plan's sessions can have in flight: a replay's steps each, plus one.
  const size_t max_waiting = max_sessions * steps_per_session(*config_);
  if (scheduler_.size() >= max_waiting) {
    LL_WARN(options_.name << ": " << scheduler_.size() << " steps waiting, the plan's bound; dropped session "
                          << m.session);
    close_session(m.session);
    scheduler_.drop_session(m.session);
    send(config_->stage_endpoints[0], proto::SessionEndMsg{m.session});
    return;
  }
  const int64_t vocab = config_->manifest->hparams.vocab_size;
  if (std::any_of(m.draft.begin(), m.draft.end(), [vocab](int64_t t) { return t >= vocab; })) {
    LL_WARN(options_.name << ": refused a step of session " << m.session
                          << ": a drafted token is outside the vocabulary; dropped the session");
    close_session(m.session);
    scheduler_.drop_session(m.session);
    send(config_->stage_endpoints[0], proto::SessionEndMsg{m.session});  // the head tells its client
    return;
  }
  if (Status in_order = order_.admit(m.session, m.start_pos, hidden->shape[0], static_cast<int64_t>(m.draft.size()));
      !in_order.ok()) {
    LL_WARN(options_.name << ": refused an out-of-order step, dropped the session: " << in_order.error());
    close_session(m.session);
    scheduler_.drop_session(m.session);
    send(config_->stage_endpoints[0], proto::SessionEndMsg{m.session});
    return;
  }
  last_seen_[m.session] = clock_.now();
  WorkItem item;
  item.session = m.session;
  item.input.start_pos = static_cast<int>(m.start_pos);
  item.input.hidden = std::move(hidden).value();
  item.input.decode_rows = static_cast<int>(m.decode_rows);
  item.sample = m.sample;
  item.sampling = m.sampling;
  item.draft.assign(m.draft.begin(), m.draft.end());
  item.input.logit_rows = static_cast<int>(item.draft.size()) + 1;
  item.stats = std::move(m.stats);
  item.enqueued = clock_.now();
  scheduler_.push(std::move(item));
}

// Prefills that waited for a cache, oldest first, as far as caches are free now (a session its head ended meanwhile
// is dropped by on_activation: it is in ended_).
void StageLoop::open_deferred() {
  if (deferred_.empty() || !config_) return;
  const size_t max_sessions = static_cast<size_t>(std::max(1, config_->max_sessions));
  std::deque<proto::ActivationMsg> waiting;
  waiting.swap(deferred_);
  while (!waiting.empty()) {
    proto::ActivationMsg m = std::move(waiting.front());
    waiting.pop_front();
    if (last_seen_.count(m.session) || last_seen_.size() < max_sessions) {
      on_activation(std::move(m));
    } else {
      deferred_.push_back(std::move(m));
    }
  }
}

// --- compute results -----------------------------------------------------------------------------------------
void StageLoop::on_step_done(StepOutcome& outcome) {
  if (!outcome.outputs) {
    LL_ERROR(options_.name << ": step failed: " << outcome.outputs.error());
    return fail_steps(outcome.items, outcome.outputs.error());
  }
  const TimePoint computed = clock_.now();
  for (size_t i = 0; i < outcome.items.size(); ++i) {
    WorkItem& item = outcome.items[i];
    LL_DEBUG(options_.name << ": computed session " << item.session << " positions " << item.input.start_pos << ".."
                           << item.input.start_pos + item.input.step_tokens() - 1 << " (batch of "
                           << outcome.items.size() << ")");
    item.stats.push_back(proto::StageStat{config_->stage_index, outcome.compute_ms,
                                          to_ms(outcome.began - item.enqueued),
                                          static_cast<int64_t>(outcome.items.size()), item.input.step_tokens()});
    route_output(item, std::move((*outcome.outputs)[i]), computed);
  }
}

void StageLoop::fail_steps(const std::vector<WorkItem>& items, const std::string& error) {
  (void)error;
  for (const auto& item : items) {
    if (heads_.contains(item.session)) {
      finish(item.session, "error");
    } else {
      close_session(item.session);
      // Tell the head, which tells the client (a session_end from a stage means "dropped").
      if (config_ && config_->stage_count() > 0) send(config_->stage_endpoints[0], proto::SessionEndMsg{item.session});
    }
  }
}

void StageLoop::route_output(WorkItem& item, Tensor32 output, TimePoint computed) {
  const int position = item.input.start_pos + item.input.step_tokens();
  if (config_->is_tail()) {
    if (!item.sample) return;  // a replay step before the last: its caches were all it was for
    // The drafted rows' logits choose their tokens as one-by-one decode steps would (engine/speculation.h).
    auto verdict = verify_draft(output.values, config_->manifest->hparams.vocab_size, item.draft,
                                Sampler(to_params(item.sampling)), position - static_cast<int>(item.draft.size()));
    if (!verdict) {
      LL_ERROR(options_.name << ": session " << item.session << ": " << verdict.error());
      return fail_steps({item}, verdict.error());
    }
    const int token_position = position - static_cast<int>(item.draft.size()) + verdict->accepted;
    stamp_send(item.stats, computed, clock_.now());
    if (config_->is_head()) {
      if (heads_.contains(item.session)) {
        record_stage_stats(item.session, item.stats);
        std::optional<proto::StepTrace> trace;
        if (traced(item.session)) trace = proto::StepTrace{token_position, 0, item.stats};  // one stage: no trip
        take_verified(item.session, verdict->accepted, verdict->token, token_position, std::move(trace));
      }
      return;
    }
    proto::TokenMsg token{item.session, config_->plan_version, token_position, verdict->token, std::move(item.stats)};
    token.accepted = verdict->accepted;
    send(config_->stage_endpoints[0], token);
    return;
  }
  proto::ActivationMsg next;
  next.session = item.session;
  next.plan_version = config_->plan_version;
  next.start_pos = item.input.start_pos;
  next.decode_rows = item.input.decode_rows;
  next.sample = item.sample;
  next.sampling = item.sampling;
  next.draft.assign(item.draft.begin(), item.draft.end());
  next.stats = std::move(item.stats);
  next.hidden = hidden_to_frame(output, config_->wire);
  auto frames = encode_stamped_activation(next, computed, clock_);
  if (!frames) {
    LL_ERROR(options_.name << ": cannot encode activation: " << frames.error());
    return;
  }
  send_frames(config_->stage_endpoints[config_->stage_index + 1], std::move(frames).value());
  if (config_->is_head() && traced(item.session)) {
    const TimePoint now = clock_.now();
    step_times_.sent(item.session, now, to_ms(now - computed));
  }
}

bool StageLoop::traced(uint64_t id) {
  const HeadSession* session = heads_.find(id);
  return session && session->request.trace;
}

// --- sessions ------------------------------------------------------------------------------------------------
void StageLoop::close_session(uint64_t id) {
  step_times_.forget(id);
  order_.forget(id);
  if (last_seen_.erase(id) && config_ && config_->shards) config_->shards->close_session(id);
}

void StageLoop::expire_idle_sessions() {
  const auto now = clock_.now();
  for (auto it = ended_.begin(); it != ended_.end();)
    it = now - it->second > kEndedMemory ? ended_.erase(it) : std::next(it);
  const auto idle_after =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(options_.session_idle_timeout_s));
  std::vector<uint64_t> idle;
  for (const auto& [id, seen] : last_seen_) {
    if (now - seen > idle_after) idle.push_back(id);
  }
  std::sort(idle.begin(), idle.end());
  for (uint64_t id : idle) {
    LL_INFO(options_.name << ": session " << id << " idle for " << options_.session_idle_timeout_s << " s: freed");
    if (heads_.contains(id))
      finish(id, "timeout");
    else
      close_session(id);
  }
}

void StageLoop::keep_clients_alive() {
  for (const auto& [id, client] : heads_.keepalives_due(kClientKeepalive)) reply(client, proto::TokensMsg{id, {}, ""});
}

void StageLoop::record_stage_stats(uint64_t session, const std::vector<proto::StageStat>& stats) {
  if (options_.on_stage_stats && config_) options_.on_stage_stats(config_->plan_version, session, stats);
  for (const auto& s : stats) {
    auto [it, inserted] = stage_compute_ms_.emplace(static_cast<int>(s.stage), s.compute_ms);
    if (!inserted) it->second = 0.8 * it->second + 0.2 * s.compute_ms;
  }
}

// The figures others read (and wait on), republished from the loop's own state; wakes whoever waits.
void StageLoop::publish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const StepCounters& c = scheduler_.counters();
    stats_.plan_version = config_ ? config_->plan_version : 0;
    stats_.open_sessions = config_ && config_->shards ? config_->shards->open_sessions() : 0;
    stats_.steps = c.steps;
    stats_.batched_steps = c.batched_steps;
    stats_.compute_ms_avg = c.compute_ms_avg;
    stats_.queue_depth = c.queue_depth;
    stats_.tokens_generated = tokens_generated_;
    stats_.replayed_sessions = replayed_sessions_;
    stats_.bytes_sent = bytes_sent_;
    stats_.stage_compute_ms = stage_compute_ms_;
  }
  stats_changed_.notify_all();
}

// --- transport -----------------------------------------------------------------------------------------------
bool StageLoop::reply(const net::Incoming& to, const DataMessage& message) {
  auto frames = proto::encode_data_message(message);
  if (!frames) {
    LL_ERROR(options_.name << ": cannot encode " << proto::data_message_name(message) << ": " << frames.error());
    return false;
  }
  Status sent = transport_->reply(to, std::move(frames).value());
  if (!sent.ok()) LL_DEBUG(options_.name << ": reply not delivered: " << sent.error());  // the client went away
  return sent.ok();
}

void StageLoop::send(const std::string& endpoint, const DataMessage& message) {
  auto frames = proto::encode_data_message(message);
  if (!frames) {
    LL_ERROR(options_.name << ": cannot encode " << proto::data_message_name(message) << ": " << frames.error());
    return;
  }
  send_frames(endpoint, std::move(frames).value());
}

void StageLoop::send_frames(const std::string& endpoint, std::vector<std::string> frames) {
  uint64_t bytes = 0;
  for (const auto& f : frames) bytes += f.size();
  if (Status sent = transport_->send(endpoint, std::move(frames)); !sent.ok()) {
    LL_WARN(options_.name << ": cannot send to " << endpoint << ": " << sent.error());
    return;
  }
  bytes_sent_[endpoint] += bytes;
}

}  // namespace ll::pipeline
