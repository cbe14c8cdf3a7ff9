#include "common/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace ll {

MemoryBandwidth measure_memory_bandwidth(uint64_t buffer_bytes, int repeats) {
  const size_t n = buffer_bytes / sizeof(float);
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  using clock = std::chrono::steady_clock;
  double best_read = 1e30, best_copy = 1e30;
  volatile float sink = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = clock::now();
    // Four accumulators so the sum vectorises and is bound by memory, not by the add latency.
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 3 < n; i += 4) {
      s0 += a[i];
      s1 += a[i + 1];
      s2 += a[i + 2];
      s3 += a[i + 3];
    }
    sink = sink + s0 + s1 + s2 + s3;
    auto t1 = clock::now();
    std::memcpy(b.data(), a.data(), n * sizeof(float));
    auto t2 = clock::now();
    sink = sink + b[n / 2];
    best_read = std::min(best_read, std::chrono::duration<double>(t1 - t0).count());
    best_copy = std::min(best_copy, std::chrono::duration<double>(t2 - t1).count());
  }
  const double bytes = static_cast<double>(n * sizeof(float));
  return MemoryBandwidth{bytes / best_read, bytes / best_copy};
}

}  // namespace ll
