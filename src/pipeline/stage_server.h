// StageServer: a device's data plane in the daemon. It binds the data endpoint (a ZeroMQ ROUTER, CURVE when keys are
// configured, an emulated uplink when asked) and runs a StageLoop (stage_loop.h: sessions, steps, routing) on a
// thread of its own over that transport.
// Thread-safety: the public methods may be called from any thread; all socket and session work happens on the
// server's own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "lingualinked/result.h"
#include "pipeline/stage_loop.h"

namespace ll::pipeline {

class StageServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<StageServer>> start(const StageServerOptions& options);
  ~StageServer();
  StageServer(const StageServer&) = delete;
  StageServer& operator=(const StageServer&) = delete;

  // The bound data endpoint, with the real port.
  const std::string& endpoint() const { return loop_->endpoint(); }

  // Applies a plan: takes effect on the server thread before the next message is handled.
  void configure(std::shared_ptr<const StageConfig> config) { loop_->configure(std::move(config)); }
  // Test and benchmark knob: behave as a device `speed` times as fast (after each step, wait in proportion to the
  // compute really done: (1/speed - 1) x its duration). 1 = real speed; values above 1 cannot speed anything up.
  void set_emulated_speed(double speed) { loop_->set_speed(speed); }
  [[nodiscard]] double emulated_speed() const { return loop_->speed(); }
  // How long the step now computing has been running, 0 when idle (thread-safe; the daemon's step watchdog).
  [[nodiscard]] double current_step_ms() const { return loop_->current_step_ms(); }
  [[nodiscard]] StageStats stats() const { return loop_->stats(); }
  // Waits until `ready(stats)` holds (true) or `timeout` passes (false); see StageLoop::wait_until.
  [[nodiscard]] bool wait_until(const std::function<bool(const StageStats&)>& ready,
                                std::chrono::milliseconds timeout) const {
    return loop_->wait_until(ready, timeout);
  }
  // Ends every session this head serves with an error to its client (the ring cannot be rebuilt).
  void abort_sessions(const std::string& reason) { loop_->abort_sessions(reason); }
  void leave_ring(uint64_t plan_version) { loop_->leave_ring(plan_version); }
  void stop();

 private:
  StageServer() = default;

  std::unique_ptr<StageLoop> loop_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ll::pipeline
