#include "pipeline/step_scheduler.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <unordered_set>

namespace ll::pipeline {

StepScheduler::StepScheduler(const Clock& clock, int max_batch, double speed)
    : clock_(clock), max_batch_(std::max(1, max_batch)) {
  set_speed(speed);
}

void StepScheduler::drop_session(uint64_t session) {
  waiting_.erase(
      std::remove_if(waiting_.begin(), waiting_.end(), [session](const WorkItem& w) { return w.session == session; }),
      waiting_.end());
}

double StepScheduler::current_step_ms() const {
  const int64_t started = step_started_ns_.load();
  if (started == 0) return 0;
  return (clock_.now().time_since_epoch().count() - started) / 1e6;
}

// One turn: the decode rows waiting (one batch), then at most one longer step (a prefill chunk, a replay step). A
// long prompt's chunks thus alternate with the decode steps of running sessions, which arrive between turns. A step
// runs only after every earlier step of its session (each stage applies a session's steps in order).
void StepScheduler::run(ShardRange& shards, const std::function<bool(uint64_t)>& still_open,
                        const std::function<void(StepOutcome&)>& done) {
  std::deque<WorkItem> items;
  items.swap(waiting_);
  counters_.queue_depth = items.size();
  std::vector<WorkItem> batch;
  std::optional<WorkItem> long_step;
  std::deque<WorkItem> later;
  std::unordered_set<uint64_t> taken;  // sessions with a step in this turn or an earlier one still waiting
  for (auto& item : items) {
    if (!still_open(item.session)) continue;  // ended while waiting
    const bool behind = !taken.insert(item.session).second;
    const bool decode = item.input.step_tokens() == 1 || !item.draft.empty();
    if (!behind && decode && batch.size() < static_cast<size_t>(max_batch_)) {
      batch.push_back(std::move(item));
    } else if (!behind && !decode && !long_step) {
      long_step = std::move(item);
    } else {
      later.push_back(std::move(item));
    }
  }
  auto run_items = [&](std::vector<WorkItem> run) {
    run.erase(std::remove_if(run.begin(), run.end(), [&](const WorkItem& w) { return !still_open(w.session); }),
              run.end());
    if (run.empty()) return;
    StepOutcome outcome = compute(shards, std::move(run));
    done(outcome);
  };
  if (!batch.empty()) run_items(std::move(batch));
  if (long_step) {
    std::vector<WorkItem> one;
    one.push_back(std::move(*long_step));
    run_items(std::move(one));
  }
  std::deque<WorkItem> pushed;
  pushed.swap(waiting_);
  waiting_ = std::move(later);
  // Steps pushed while this turn computed (by `done`) queue behind the ones left for later.
  for (auto& item : pushed) waiting_.push_back(std::move(item));
}

StepOutcome StepScheduler::compute(ShardRange& shards, std::vector<WorkItem> items) {
  StepOutcome outcome;
  outcome.began = clock_.now();
  step_started_ns_ = outcome.began.time_since_epoch().count();
  if (items.size() == 1) {
    auto out = shards.forward(items[0].session, items[0].input);
    if (out)
      outcome.outputs.value().push_back(std::move(out).value());
    else
      outcome.outputs = out.take_error();
  } else {
    std::vector<uint64_t> ids;
    std::vector<StepInput> inputs;
    for (auto& item : items) {
      ids.push_back(item.session);
      inputs.push_back(std::move(item.input));
    }
    outcome.outputs = shards.forward_batch(ids, inputs);
    for (size_t i = 0; i < items.size(); ++i) items[i].input = std::move(inputs[i]);
  }
  double compute_ms = to_ms(clock_.now() - outcome.began);
  const double speed = speed_;
  if (speed < 1.0) {  // emulate a slower device: wait in proportion to the compute really done
    const double extra_ms = compute_ms * (1.0 / speed - 1.0);
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(extra_ms * 1000)));
    compute_ms += extra_ms;
  }
  step_started_ns_ = 0;
  ++counters_.steps;
  if (items.size() > 1) counters_.batched_steps += items.size();
  counters_.compute_ms_avg = counters_.steps == 1 ? compute_ms : 0.9 * counters_.compute_ms_avg + 0.1 * compute_ms;
  outcome.compute_ms = compute_ms;
  outcome.items = std::move(items);
  return outcome;
}

}  // namespace ll::pipeline
