// libFuzzer target: ll::proto::decode_tensor_frame on arbitrary bytes (scripts/fuzz). A frame that decodes must
// re-encode to exactly the input bytes (the format has one spelling per tensor), else we abort.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/tensor_frame.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto frame = ll::proto::decode_tensor_frame(bytes);
  if (!frame.ok()) return 0;
  auto count = ll::proto::element_count(frame->shape);
  require(count.ok() && *count * ll::proto::dtype_size(frame->dtype) == frame->data.size());
  auto encoded = ll::proto::encode_tensor_frame(*frame);
  require(encoded.ok() && *encoded == bytes);
  return 0;
}
