// Clock: the time source of timers and heartbeats, injectable so that tests run on simulated time. SteadyClock is
// the real monotonic clock; ManualClock only moves when told. Thread-safety: SteadyClock is stateless; ManualClock
// is safe to read and advance from several threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ll {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return TimePoint(Duration(ns_.load())); }
  void advance(Duration d) { ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_{int64_t{1000} * 1000 * 1000};  // start at 1 s, away from the epoch
};

inline double to_ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace ll
