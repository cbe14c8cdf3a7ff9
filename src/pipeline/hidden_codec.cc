#include "pipeline/hidden_codec.h"

#include <cstring>

#include "proto/data_messages.h"

namespace ll::pipeline {

proto::TensorFrame hidden_to_frame(const Tensor32& hidden, proto::DType wire) {
  proto::TensorFrame frame;
  frame.dtype = wire;
  frame.shape.assign(hidden.shape.begin(), hidden.shape.end());
  if (wire == proto::DType::kF16) {
    frame.data.resize(hidden.values.size() * 2);
    for (size_t i = 0; i < hidden.values.size(); ++i) {
      const uint16_t h = proto::float_to_half(hidden.values[i]);
      std::memcpy(&frame.data[2 * i], &h, 2);
    }
  } else {
    frame.dtype = proto::DType::kF32;
    frame.data.assign(reinterpret_cast<const char*>(hidden.values.data()), hidden.values.size() * sizeof(float));
  }
  return frame;
}

Result<Tensor32> frame_to_hidden(const proto::TensorFrame& frame, int dim) {
  if (frame.shape.size() != 2 || frame.shape[1] != static_cast<uint64_t>(dim) || frame.shape[0] == 0) {
    return make_error("hidden state is not [T, " + std::to_string(dim) + "]");
  }
  const size_t count = static_cast<size_t>(frame.shape[0]) * static_cast<size_t>(dim);
  Tensor32 out;
  out.shape = {static_cast<int64_t>(frame.shape[0]), dim};
  if (frame.dtype == proto::DType::kF32 && frame.data.size() == count * 4) {
    out.values.resize(count);
    std::memcpy(out.values.data(), frame.data.data(), count * 4);
  } else if (frame.dtype == proto::DType::kF16 && frame.data.size() == count * 2) {
    out.values.resize(count);
    for (size_t i = 0; i < count; ++i) {
      uint16_t h;
      std::memcpy(&h, &frame.data[2 * i], 2);
      out.values[i] = proto::half_to_float(h);
    }
  } else {
    return make_error("hidden state must be f32 or f16 with a matching byte count");
  }
  return out;
}

}  // namespace ll::pipeline
