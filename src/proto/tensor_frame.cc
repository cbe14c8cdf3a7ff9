#include "proto/tensor_frame.h"

#include <cstring>

#include "proto/limits.h"

namespace ll::proto {
namespace {

constexpr char kMagic[4] = {'L', 'L', 'T', '1'};

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool known_dtype(uint8_t d) { return d >= 1 && d <= 6; }

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 2;
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kU8:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kI32:
      return "i32";
    case DType::kI64:
      return "i64";
    case DType::kU8:
      return "u8";
  }
  return "?";
}

Result<uint64_t> element_count(const std::vector<uint64_t>& shape) {
  if (shape.size() > kMaxTensorRank) return make_error("tensor rank " + std::to_string(shape.size()) + " > limit");
  uint64_t n = 1;
  for (uint64_t d : shape) {
    if (d > kMaxTensorDim) return make_error("tensor dim " + std::to_string(d) + " > limit");
    if (d != 0 && n > kMaxTensorElements / d) return make_error("tensor element count over limit");
    n *= d;
  }
  if (n > kMaxTensorElements) return make_error("tensor element count over limit");
  return n;
}

Result<std::string> encode_tensor_frame(const TensorFrame& frame) {
  if (!known_dtype(static_cast<uint8_t>(frame.dtype))) return make_error("unknown dtype");
  LL_ASSIGN_OR_RETURN(uint64_t n, element_count(frame.shape));
  const uint64_t bytes = n * dtype_size(frame.dtype);
  if (bytes > kMaxTensorFrameBytes) return make_error("tensor frame over byte limit");
  if (frame.data.size() != bytes) {
    return make_error("tensor data has " + std::to_string(frame.data.size()) + " bytes, shape needs " +
                      std::to_string(bytes));
  }
  std::string out;
  out.reserve(kTensorHeaderBytes + 8 * frame.shape.size() + bytes);
  out.append(kMagic, 4);
  out.push_back(static_cast<char>(frame.dtype));
  out.push_back(static_cast<char>(frame.shape.size()));
  out.push_back('\0');
  out.push_back('\0');
  for (uint64_t d : frame.shape) put_u64(out, d);
  out.append(frame.data);
  return out;
}

Result<TensorFrame> decode_tensor_frame(std::string_view bytes) {
  if (bytes.size() < kTensorHeaderBytes) return make_error("tensor frame shorter than its header");
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (std::memcmp(p, kMagic, 4) != 0) return make_error("tensor frame has a bad magic");
  if (!known_dtype(p[4])) return make_error("tensor frame has unknown dtype " + std::to_string(p[4]));
  const size_t rank = p[5];
  if (rank > kMaxTensorRank) return make_error("tensor frame rank " + std::to_string(rank) + " > limit");
  if (p[6] != 0 || p[7] != 0) return make_error("tensor frame reserved bytes are not zero");
  const size_t header = kTensorHeaderBytes + 8 * rank;
  if (bytes.size() < header) return make_error("tensor frame truncated inside its dims");
  std::vector<uint64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) shape[i] = get_u64(p + kTensorHeaderBytes + 8 * i);
  LL_ASSIGN_OR_RETURN(uint64_t n, element_count(shape));
  const auto dtype = static_cast<DType>(p[4]);
  const uint64_t payload = n * dtype_size(dtype);
  if (payload > kMaxTensorFrameBytes) return make_error("tensor frame over byte limit");
  const uint64_t have = bytes.size() - header;
  if (have != payload) {
    return make_error(std::string(have < payload ? "truncated" : "padded") + " tensor frame: payload has " +
                      std::to_string(have) + " bytes, shape needs " + std::to_string(payload));
  }
  TensorFrame frame;
  frame.dtype = dtype;
  frame.shape = std::move(shape);
  frame.data.assign(bytes.data() + header, payload);
  return frame;
}

}  // namespace ll::proto
