// StatusSignal: "the deployment's status changed", shared by the planner and the device loader so that a waiter
// (tests, the daemon) wakes on every change instead of polling. A counter under its own mutex; taken alone, never
// while holding it and another lock. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace ll::deploy {

class StatusSignal {
 public:
  void notify() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++changes_;
    }
    changed_.notify_all();
  }
  [[nodiscard]] uint64_t changes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return changes_;
  }
  // Waits until the count differs from `seen` (true) or `deadline` passes (false).
  [[nodiscard]] bool wait_past(uint64_t seen, std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return changes_ != seen; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  uint64_t changes_ = 0;
};

}  // namespace ll::deploy
