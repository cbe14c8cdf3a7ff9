// StepScheduler: the steps waiting for this stage's shards and the way they run. Decode steps (one token, or a
// speculative step's token and its draft) from different sessions run together in one forward pass (the weights are
// read once for all of them); a longer step (a prefill chunk, a replay step) runs alone, at most one per turn between
// decode batches, so that a long prompt does not stall running sessions. A session's steps run in the order they
// arrived. It also emulates a slower device for tests and benchmarks. Thread-safety: one owner thread (the stage
// loop's); speed(), set_speed() and current_step_ms() may be called from any thread (the daemon's watchdog and operator
// calls).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "common/clock.h"
#include "engine/shard_range.h"
#include "lingualinked/result.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

// One step waiting for this stage's shards.
struct WorkItem {
  uint64_t session = 0;
  StepInput input;
  bool sample = true;  // false: a replay step before the last; the tail drops its output
  proto::SamplingWire sampling;
  // A speculative step: the drafted tokens it verifies, its last draft.size() rows (input.logit_rows is one more).
  std::vector<int32_t> draft;
  std::vector<proto::StageStat> stats;  // the step times of the stages it already crossed (head: load balancing)
  TimePoint enqueued{};
};

// What one forward pass produced: one output per item, or the error that failed them all.
struct StepOutcome {
  std::vector<WorkItem> items;
  Result<std::vector<Tensor32>> outputs = std::vector<Tensor32>{};
  TimePoint began{};
  double compute_ms = 0;  // emulated slowness included
};

// Counters of the steps run, for the stage's published figures.
struct StepCounters {
  uint64_t steps = 0;
  uint64_t batched_steps = 0;  // decode steps that ran in a batch of two or more
  double compute_ms_avg = 0;   // moving average per forward pass
  size_t queue_depth = 0;      // steps waiting when the scheduler last started work
};

class StepScheduler {
 public:
  StepScheduler(const Clock& clock, int max_batch, double speed);

  void push(WorkItem item) { waiting_.push_back(std::move(item)); }
  void drop_session(uint64_t session);
  void clear() { waiting_.clear(); }
  [[nodiscard]] bool empty() const { return waiting_.empty(); }
  [[nodiscard]] size_t size() const { return waiting_.size(); }

  // One turn: runs the waiting decode steps (one batch) and then at most one longer step, skipping sessions
  // `still_open` no longer holds, and hands each pass's outcome to `done` as soon as it is computed (so the next
  // stage starts on it while this one computes the next pass). A step never runs before an earlier step of its
  // session. What is left, and steps pushed meanwhile (by `done`), wait for the next call.
  void run(ShardRange& shards, const std::function<bool(uint64_t)>& still_open,
           const std::function<void(StepOutcome&)>& done);

  [[nodiscard]] const StepCounters& counters() const { return counters_; }

  // Behave as a device `speed` times as fast: after each pass, wait (1/speed - 1) x its duration. Values >= 1 are
  // real speed.
  void set_speed(double speed) { speed_ = speed > 0 ? speed : 1.0; }
  [[nodiscard]] double speed() const { return speed_; }
  // How long the pass now computing has run, 0 when idle: the watchdog's view of a hung compute.
  [[nodiscard]] double current_step_ms() const;

 private:
  StepOutcome compute(ShardRange& shards, std::vector<WorkItem> items);

  const Clock& clock_;
  const int max_batch_;
  std::deque<WorkItem> waiting_;
  StepCounters counters_;
  std::atomic<double> speed_{1.0};
  std::atomic<int64_t> step_started_ns_{0};  // clock time of the pass in progress, 0 when idle
};

}  // namespace ll::pipeline
