// StageServer: a device's data plane. One thread owns a ZeroMQ ROUTER bound on the data endpoint and one DEALER per
// other stage; it receives activations, runs them through its shards — decode steps of sessions waiting together
// are batched into one forward pass — and sends each result straight to the stage that needs it: the hidden state
// to the next stage, the sampled token back to the head. On the head stage it also serves clients: it tokenizes,
// streams text back and decides when a generation ends. Every session's KV cache is freed when it ends, is
// cancelled, its client goes away, or it idles past a timeout.
// Thread-safety: the public methods may be called from any thread; all socket and session work happens on the
// server's own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "lingualinked/result.h"
#include "pipeline/link_emulator.h"
#include "pipeline/stage_config.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

struct StageServerOptions {
  std::string bind = "tcp://127.0.0.1:*";
  std::string name = "stage";  // for logs
  int max_batch = 16;
  int max_sessions = 64;
  double session_idle_timeout_s = 120;
  double emulated_speed = 1.0;
  LinkShape emulated_egress;  // benchmark knob: send through an emulated uplink (link_emulator.h)
  // Messages the stage itself does not serve (plans, file fetches, load progress) go here, on the server's thread;
  // a returned message is the reply to the sender.
  std::function<std::optional<proto::DataMessage>(const std::string& route, proto::DataMessage&& message)> handler;
  // Head only: every token's per-stage step times of the current plan, for load balancing (server's thread).
  std::function<void(uint64_t plan_version, const std::vector<proto::StageStat>& stats)> on_stage_stats;
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

class StageServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<StageServer>> start(const StageServerOptions& options);
  ~StageServer();
  StageServer(const StageServer&) = delete;
  StageServer& operator=(const StageServer&) = delete;

  // The bound data endpoint, with the real port.
  const std::string& endpoint() const { return endpoint_; }

  // Applies a plan: takes effect on the server thread before the next message is handled.
  void configure(std::shared_ptr<const StageConfig> config);
  // Test and benchmark knob: behave as a device `speed` times as fast (after each step, wait in proportion to the
  // compute really done: (1/speed - 1) x its duration). 1 = real speed; values above 1 cannot speed anything up.
  void set_emulated_speed(double speed);
  [[nodiscard]] double emulated_speed() const;
  // How long the step now computing has been running, 0 when idle (thread-safe; the daemon's step watchdog).
  [[nodiscard]] double current_step_ms() const;
  [[nodiscard]] StageStats stats() const;
  // Waits until `ready(stats)` holds (true) or `timeout` passes (false). The figures are republished after every
  // message the stage handles and every turn of its loop, so a test waits on the event itself, never on a sleep:
  // a reply to a message sent after X means the stats already show X's effect on the stage's sessions.
  [[nodiscard]] bool wait_until(const std::function<bool(const StageStats&)>& ready,
                                std::chrono::milliseconds timeout) const;
  // Ends every session this head serves with an error to its client (the ring cannot be rebuilt).
  void abort_sessions(const std::string& reason);
  void stop();

 private:
  class Loop;
  explicit StageServer(std::string endpoint);

  std::string endpoint_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace ll::pipeline
