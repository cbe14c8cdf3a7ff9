// Causal attention of one session's rows against its KV cache, computed so that a row's result depends only on its
// own position and the cache — not on how many rows share the call, where the row sits in it, or how many threads
// run it. Decode (one row per call), prefill and replay (many rows per call) therefore give bit-identical numbers for
// the same position, which is what makes a replayed session exact while still attending many rows per call.
// Torch-free; the libtorch operator `lingualinked::attend` (torch_shard_range.cc) wraps it.
// Thread-safety: pure function of its inputs; calls on disjoint head ranges may run concurrently.
#pragma once

#include <cstdint>

namespace ll {

struct AttentionShape {
  int64_t rows = 0;        // query rows: consecutive positions start_pos, start_pos + 1, ...
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (n_heads is a multiple: grouped-query attention)
  int64_t context = 0;     // positions each cache holds
  int64_t head_dim = 0;
  int64_t start_pos = 0;  // position of row 0; row r attends to positions [0, start_pos + r]
  float scale = 1.0f;     // applied to q·k before the softmax
};

// q: [rows, n_heads, head_dim]; keys, values: [n_kv_heads, context, head_dim], already holding every position the
// rows attend to; out: [rows, n_heads * head_dim]. Computes kv heads [kv_begin, kv_end) only, so a caller can split
// the heads over threads. The caller checks the shapes (start_pos + rows <= context).
void attend_causal(const AttentionShape& shape, const float* q, const float* keys, const float* values, float* out,
                   int64_t kv_begin, int64_t kv_end);

}  // namespace ll
