// Tensor frames: typed, little-endian binary frames carrying one tensor (docs/protocol.md, "Tensor frames").
// encode_tensor_frame builds the bytes; decode_tensor_frame validates a received frame completely before it
// allocates. Thread-safety: stateless functions on value types.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lingualinked/result.h"

namespace ll::proto {

enum class DType : uint8_t { kF32 = 1, kF16 = 2, kBF16 = 3, kI32 = 4, kI64 = 5, kU8 = 6 };

[[nodiscard]] size_t dtype_size(DType dtype);
[[nodiscard]] const char* dtype_name(DType dtype);

struct TensorFrame {
  DType dtype = DType::kU8;
  std::vector<uint64_t> shape;
  std::string data;  // raw little-endian element bytes, row-major; size == elements * dtype_size
};

// The number of elements of `shape`, or an error on overflow / limits.
[[nodiscard]] Result<uint64_t> element_count(const std::vector<uint64_t>& shape);

// Serializes a frame; errors if the shape and data disagree or a limit is exceeded.
[[nodiscard]] Result<std::string> encode_tensor_frame(const TensorFrame& frame);

// Parses and validates a frame (magic, dtype, rank, reserved, dims, element count, exact payload length).
[[nodiscard]] Result<TensorFrame> decode_tensor_frame(std::string_view bytes);

}  // namespace ll::proto
