// Hidden states between the runtime (Tensor32) and the wire (tensor frames in f32 or f16). Stateless.
#pragma once

#include "engine/shard_range.h"
#include "lingualinked/result.h"
#include "proto/tensor_frame.h"

namespace ll::pipeline {

[[nodiscard]] proto::TensorFrame hidden_to_frame(const Tensor32& hidden, proto::DType wire);
// Checks the frame is [T, dim] in f32 or f16 before converting.
[[nodiscard]] Result<Tensor32> frame_to_hidden(const proto::TensorFrame& frame, int dim);

}  // namespace ll::pipeline
