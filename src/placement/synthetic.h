// Synthetic placement instances for the benchmark and for what-if runs without a model package: a Llama-shaped
// model (embed, n transformer blocks, head) with sizes from its dimensions, and clusters with full-mesh links.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "placement/problem.h"

namespace ll::placement {

struct SyntheticModel {
  int layers = 80;
  int dim = 4096;
  int hidden_dim = 11008;
  int kv_dim = 4096;  // n_kv_heads * head_dim
  int vocab = 32000;
  int weight_bytes = 2;  // fp16 weights
  int wire_bytes = 2;    // fp16 activations on the wire
  uint64_t context = 2048;
};

// Shards: embed, `layers` blocks, head. Block bytes from the attention and MLP matrices, flops = 2 x params,
// kv = 2 x kv_dim x weight_bytes, out = dim x wire_bytes.
[[nodiscard]] std::vector<ShardInfo> synthetic_shards(const SyntheticModel& model);

// A problem with these devices (head = device 0) and every directed link at the same bandwidth and latency.
[[nodiscard]] PlacementProblem synthetic_problem(const SyntheticModel& model, std::vector<Device> devices,
                                                 double bandwidth_bytes_per_s, double latency_s);

}  // namespace ll::placement
