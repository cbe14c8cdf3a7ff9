// Compute profiling: measures this device's matmul throughput with libtorch at a decode-like shape (matrix-vector,
// bound by memory bandwidth) and a prefill-like shape (matrix-matrix, bound by arithmetic), on a given number of
// threads. Torch-free header. Thread-safety: measure_compute sets libtorch's global thread count; call it from one
// thread at a time (the daemon's profiler thread).
#pragma once

#include "lingualinked/result.h"

namespace ll {

struct ComputeProfileOptions {
  int threads = 0;                 // intra-op threads; 0 = libtorch's default
  int dim = 2048;                  // square weight matrix [dim, dim], fp32 (16 MiB at 2048: out of most caches)
  int prefill_tokens = 128;        // rows of the prefill-like input
  double seconds_per_shape = 0.3;  // time budget of each measurement (after one warm-up run)
};

struct ComputeProfile {
  double gflops_decode = 0;   // [1, dim] x [dim, dim]
  double gflops_prefill = 0;  // [prefill_tokens, dim] x [dim, dim]
  int threads = 0;            // the thread count actually used
  double seconds = 0;         // wall time the whole measurement took
};

[[nodiscard]] Result<ComputeProfile> measure_compute(const ComputeProfileOptions& options);

}  // namespace ll
