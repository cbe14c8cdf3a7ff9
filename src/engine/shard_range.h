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

struct StepInput {
  int start_pos = 0;            // position of the first token of this step in its sequence
  std::vector<int32_t> tokens;  // when the range starts with the embedding
  Tensor32 hidden;              // otherwise: [T, dim]
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

  // Runs one step (a prefill of T tokens or a decode of one) for a session. Returns the hidden state [T, dim], or,
  // when the range ends with the head, the logits of the last position [vocab].
  [[nodiscard]] virtual Result<Tensor32> forward(uint64_t session_id, const StepInput& input) = 0;

  // Decode steps of several sessions — one token each — in one pass, so the weights are read once for all of them.
  // Returns one output per session, as forward() would. The default runs them one by one.
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
