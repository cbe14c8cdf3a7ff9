#include "runtime/compute_profile.h"
#include "runtime/torch_runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <exception>

namespace ll {
namespace {

// Runs y = x·W repeatedly for about `seconds`; returns GFLOP/s (2·m·n·k flops per product).
double time_matmul(const at::Tensor& x, const at::Tensor& w, double seconds) {
  using clock = std::chrono::steady_clock;
  at::Tensor y = at::matmul(x, w);  // warm-up (allocations, thread pool start)
  const double flops =
      2.0 * static_cast<double>(x.size(0)) * static_cast<double>(x.size(1)) * static_cast<double>(w.size(1));
  int64_t runs = 0;
  const auto start = clock::now();
  double elapsed = 0;
  do {
    y = at::matmul(x, w);
    ++runs;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < seconds || runs < 3);
  volatile float sink = y.data_ptr<float>()[0];  // keep the work observable
  (void)sink;
  return flops * static_cast<double>(runs) / elapsed / 1e9;
}

}  // namespace

Result<ComputeProfile> measure_compute(const ComputeProfileOptions& options) {
  if (options.dim < 16 || options.dim > 16384) return make_error("profile dim out of range");
  if (options.prefill_tokens < 2 || options.prefill_tokens > 8192)
    return make_error("profile prefill_tokens out of range");
  if (options.threads < 0 || options.threads > 1024) return make_error("profile threads out of range");
  try {
    const auto start = std::chrono::steady_clock::now();
    c10::InferenceMode guard;
    if (options.threads > 0) set_compute_threads(options.threads);
    at::manual_seed(0);
    at::Tensor w = at::randn({options.dim, options.dim}, at::kFloat);
    at::Tensor v = at::randn({1, options.dim}, at::kFloat);
    at::Tensor x = at::randn({options.prefill_tokens, options.dim}, at::kFloat);
    ComputeProfile p;
    p.threads = at::get_num_threads();
    p.gflops_decode = time_matmul(v, w, options.seconds_per_shape);
    p.gflops_prefill = time_matmul(x, w, options.seconds_per_shape);
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return p;
  } catch (const std::exception& e) {
    return make_error(std::string("compute profile: ") + e.what());
  }
}

}  // namespace ll
