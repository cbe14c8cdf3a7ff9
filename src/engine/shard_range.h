// ShardRange: the narrow interface between the rest of lingualinked and the tensor runtime. One ShardRange is a
// loaded, contiguous run of a package's shards (a pipeline stage, or the whole model when run locally). The libtorch
// implementation lives in src/runtime/; tests of the layers above use a fake. Not thread-safe: a stage calls it from
// its one compute thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lingualinked/result.h"

namespace ll {

// A dense float32 tensor crossing the runtime boundary (row-major).
struct Tensor32 {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// One step of a session: T consecutive positions from start_pos. How a position is computed is part of its
// identity: the arithmetic of a multi-row prefill differs in the last bits from a one-token decode step, so a
// replay must give every position the shape it had the first time (docs/pipeline.md, "Exact replay"). The first
// T - decode_rows tokens form one prefill (a single token alone is computed as a decode row, as a one-token step
// always is); the last decode_rows tokens are each computed as a one-token decode row, exactly as a decode step.
struct StepInput {
  int start_pos = 0;            // position of the first token of this step in its sequence
  std::vector<int32_t> tokens;  // when the range starts with the embedding
  Tensor32 hidden;              // otherwise: [T, dim]
  int decode_rows = 0;          // trailing positions computed as one-token decode rows (a replay's generated tokens)
  // When the range ends with the head: logits of the last `logit_rows` positions, which must be decode rows (a
  // speculative step's verification). 1: the last position's alone, as [vocab]; more: [logit_rows, vocab].
  int logit_rows = 1;
  int step_tokens() const {
    return tokens.empty() ? (hidden.shape.empty() ? 0 : static_cast<int>(hidden.shape[0]))
                          : static_cast<int>(tokens.size());
  }
};

class ShardRange {
 public:
  virtual ~ShardRange() = default;
  virtual int first_shard() const = 0;
  virtual int last_shard() const = 0;

  // Allocates the KV caches of a session for the range's blocks (preallocated to the context length).
  [[nodiscard]] virtual Status open_session(uint64_t session_id) = 0;
  virtual void close_session(uint64_t session_id) = 0;
  virtual size_t open_sessions() const = 0;

  // Runs one step (a prefill of T tokens, a decode of one, or a replay: a prefill followed by decode rows) for a
  // session. Returns the hidden state [T, dim], or, when the range ends with the head, the logits of the last
  // position [vocab].
  [[nodiscard]] virtual Result<Tensor32> forward(uint64_t session_id, const StepInput& input) = 0;

  // The keys and values a session's cache holds for positions [0, positions) of every block of the range, in one
  // flat vector (block, keys then values, kv head, position, head dim). For tests that compare caches bit for bit.
  [[nodiscard]] virtual Result<std::vector<float>> cache_snapshot(uint64_t session_id, int positions) const {
    (void)session_id;
    (void)positions;
    return make_error("this runtime cannot show its caches");
  }

  // Decode steps of several sessions in one pass, so the weights are read once for all of them: one token each, or a
  // few tokens that are all decode rows (speculative steps). Returns one output per session, as forward() would, bit
  // for bit. The default runs them one by one.
  [[nodiscard]] virtual Result<std::vector<Tensor32>> forward_batch(const std::vector<uint64_t>& session_ids,
                                                                    const std::vector<StepInput>& inputs) {
    std::vector<Tensor32> outputs;
    for (size_t i = 0; i < session_ids.size() && i < inputs.size(); ++i) {
      LL_ASSIGN_OR_RETURN(Tensor32 out, forward(session_ids[i], inputs[i]));
      outputs.push_back(std::move(out));
    }
    return outputs;
  }
};

}  // namespace ll
