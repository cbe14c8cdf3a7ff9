// Measures this machine's memory bandwidth, the ceiling for memory-bound decoding. Stateless; allocates a buffer
// much larger than the caches for the duration of the call.
#pragma once

#include <cstdint>

namespace ll {

struct MemoryBandwidth {
  double read_bytes_per_s = 0;  // streaming reads (what decoding does to weights)
  double copy_bytes_per_s = 0;  // memcpy: bytes copied per second
};

[[nodiscard]] MemoryBandwidth measure_memory_bandwidth(uint64_t buffer_bytes = 512ull << 20, int repeats = 5);

}  // namespace ll
