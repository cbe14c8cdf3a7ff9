// StageLoop: one device's data plane as a single-threaded state machine over a net::Transport. Each turn it takes
// in what has arrived (activations, tokens, client requests, session ends), applies a new plan, runs the waiting
// steps through its shards (step_scheduler.h) and sends each result straight to the stage that needs it: the hidden
// state to the next stage, the sampled token back to the head. On the head stage it serves clients too
// (head_sessions.h). Every session's KV cache is freed when it ends, is cancelled, its client goes away, or it idles
// past a timeout. Driven by StageServer's thread over ZeroMQ in the daemon, and turn by turn over an in-process
// transport on a manual clock in tests (deterministic, no threads).
// Thread-safety: turn() from one thread only; configure(), abort_sessions(), set_speed(), speed(),
// current_step_ms(), stats() and wait_until() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "engine/drafter.h"
#include "engine/ngram_drafter.h"
#include "engine/prefill_chunks.h"
#include "engine/speculation.h"
#include "net/transport.h"
#include "pipeline/head_sessions.h"
#include "pipeline/link_emulator.h"
#include "pipeline/stage_config.h"
#include "pipeline/step_order.h"
#include "pipeline/step_scheduler.h"
#include "pipeline/step_trace.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

struct StageServerOptions {
  std::string bind = "tcp://127.0.0.1:*";
  std::string name = "stage";  // for logs
  int max_batch = 16;
  double session_idle_timeout_s = 120;
  double emulated_speed = 1.0;
  int prefill_chunk = kDefaultPrefillChunk;  // head: tokens per prefill step (engine/prefill_chunks.h)
  LinkShape emulated_egress;                 // benchmark knob: send through an emulated uplink (link_emulator.h)
  // Head: speculative decoding for a generation that does not choose (engine/speculation.h), and the draft model a
  // generation may ask for as draft:<its name()> (none when null). N-gram drafting needs nothing.
  SpeculationOptions speculation;
  std::shared_ptr<Drafter> draft_model;
  // Head only: every token's per-stage step times of the current plan, for load balancing (loop's thread).
  std::function<void(uint64_t plan_version, uint64_t session, const std::vector<proto::StageStat>& stats)>
      on_stage_stats;
};

// Observed figures, for `llctl devices`, metrics and load balancing.
struct StageStats {
  uint64_t plan_version = 0;
  size_t open_sessions = 0;
  uint64_t steps = 0;              // forward passes run
  uint64_t batched_steps = 0;      // decode steps that ran in a batch of two or more
  uint64_t tokens_generated = 0;   // head only
  uint64_t replayed_sessions = 0;  // head only: sessions rebuilt on a new plan
  double compute_ms_avg = 0;       // moving average per forward pass (emulated slowness included)
  size_t queue_depth = 0;          // steps that were waiting for this stage when it last started work
  double emulated_speed = 1.0;
  std::map<std::string, uint64_t> bytes_sent;  // per destination endpoint
  std::map<int, double> stage_compute_ms;      // head only: moving average of each stage's step time
};

class StageLoop {
 public:
  StageLoop(StageServerOptions options, std::unique_ptr<net::Transport> transport, const Clock& clock);
  StageLoop(const StageLoop&) = delete;
  StageLoop& operator=(const StageLoop&) = delete;

  [[nodiscard]] const std::string& endpoint() const { return transport_->endpoint(); }

  // One turn: waits up to `wait` for a message when no step is waiting, applies a plan set since the last turn,
  // handles what has arrived, runs the waiting steps, and every half second of the clock frees idle sessions and
  // keeps silent clients alive.
  void turn(Duration wait);
  // No step is waiting for this stage (loop thread only: a test driving turns knows when a ring has settled).
  [[nodiscard]] bool steps_waiting() const { return !scheduler_.empty(); }

  // Applies a plan: takes effect at the next turn, before the next message is handled. A plan older than the one
  // in force or pending is ignored (versions are term << 24 | counter: they grow across leaders too; docs/pipeline.md).
  void configure(std::shared_ptr<const StageConfig> config);
  // Ends every session this head serves with an error to its client (the ring cannot be rebuilt), next turn.
  void abort_sessions(std::string reason);
  // This device is out of the ring of plan `plan_version` (a standby, or not in it at all): a head ends its sessions
  // with "head_moved" (their clients resume at the new head), every cache goes, and generations are not_ready.
  void leave_ring(uint64_t plan_version);
  void set_speed(double speed) { scheduler_.set_speed(speed); }
  [[nodiscard]] double speed() const { return scheduler_.speed(); }
  [[nodiscard]] double current_step_ms() const { return scheduler_.current_step_ms(); }
  [[nodiscard]] StageStats stats() const;
  // Waits until `ready(stats)` holds (true) or `timeout` passes (false). The figures are republished after every
  // message the stage handles and every turn, so a test waits on the event itself, never on a sleep: a reply to a
  // message sent after X means the stats already show X's effect on the stage's sessions.
  [[nodiscard]] bool wait_until(const std::function<bool(const StageStats&)>& ready,
                                std::chrono::milliseconds timeout) const;

 private:
  void apply_pending_config();
  void replay(uint64_t id);
  void handle(const net::Incoming& from, proto::DataMessage message);
  void on_generate(const net::Incoming& from, proto::GenerateMsg request);
  void on_token(const proto::TokenMsg& m);
  void on_session_end(uint64_t id);
  void on_activation(proto::ActivationMsg m);
  void open_deferred();
  // The tokens of a returned step (drafted tokens that stood, then the sampled one) from `position` - `accepted`.
  void take_verified(uint64_t id, int64_t accepted, int32_t token, int position, std::optional<proto::StepTrace> trace);
  // One token; false when the session ended with it. The step's last token schedules the next step.
  bool take_token(uint64_t id, int32_t token, int position, bool last_of_step, std::optional<proto::StepTrace> trace);
  [[nodiscard]] bool traced(uint64_t id);  // head: the session's client asked for a per-step trace
  void finish(uint64_t id, const std::string& reason);
  void on_step_done(StepOutcome& outcome);
  void route_output(WorkItem& item, Tensor32 output, TimePoint computed);
  void fail_steps(const std::vector<WorkItem>& items, const std::string& error);
  void close_session(uint64_t id);
  void expire_idle_sessions();
  void keep_clients_alive();
  void publish();
  void record_stage_stats(uint64_t session, const std::vector<proto::StageStat>& stats);
  bool reply(const net::Incoming& to, const proto::DataMessage& message);
  void send(const std::string& endpoint, const proto::DataMessage& message);
  void send_frames(const std::string& endpoint, std::vector<std::string> frames);

  const StageServerOptions options_;
  const Clock& clock_;
  std::unique_ptr<net::Transport> transport_;
  std::shared_ptr<const StageConfig> config_;
  StepScheduler scheduler_;
  HeadSessions heads_;
  NgramDrafter ngram_;
  HeadStepTimes step_times_;                           // head: when each traced session's activation left
  StepOrder order_;                                    // non-head stages: where each session's next step must start
  std::unordered_map<uint64_t, TimePoint> last_seen_;  // sessions open on this stage
  std::unordered_map<uint64_t, TimePoint> ended_;      // sessions their head ended (kept 10 min)
  std::deque<proto::ActivationMsg> deferred_;          // prefills (and steps behind them) waiting for a cache
  TimePoint last_sweep_{};
  uint64_t tokens_generated_ = 0;
  uint64_t replayed_sessions_ = 0;
  std::map<std::string, uint64_t> bytes_sent_;
  std::map<int, double> stage_compute_ms_;

  mutable std::mutex mutex_;                       // guards pending_config_, pending_abort_ and stats_
  mutable std::condition_variable stats_changed_;  // notified after each message and each turn
  std::shared_ptr<const StageConfig> pending_config_;
  std::optional<std::string> pending_abort_;
  std::optional<uint64_t> pending_leave_;  // the plan this device is not a stage of
  std::optional<std::string> broken_;      // loop thread: why the ring cannot continue, until the next plan
  StageStats stats_;
};

}  // namespace ll::pipeline
