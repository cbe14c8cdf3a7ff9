// libFuzzer target: ll::proto::decode_data_message (the data plane) on arbitrary multipart messages, and the fp16
// conversion (scripts/fuzz). Input layout as fuzz_message.cc: repeated (u16 LE length, that many bytes), at most 12
// frames. A message that decodes must re-encode and decode again to the same kind of message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/data_messages.h"

namespace {

using namespace ll::proto;

void require(bool condition) {
  if (!condition) std::abort();
}

std::vector<std::string> split_frames(const uint8_t* data, size_t size) {
  std::vector<std::string> frames;
  size_t pos = 0;
  while (pos + 2 <= size && frames.size() < 12) {
    const size_t len = data[pos] | data[pos + 1] << 8;
    pos += 2;
    const size_t take = std::min(len, size - pos);
    frames.emplace_back(reinterpret_cast<const char*>(data) + pos, take);
    pos += take;
  }
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 2) {  // every non-NaN half survives half -> float -> half
    const uint16_t half = static_cast<uint16_t>(data[0] | data[1] << 8);
    const bool nan = (half & 0x7c00) == 0x7c00 && (half & 0x03ff) != 0;
    if (!nan) require(float_to_half(half_to_float(half)) == half);
  }
  auto decoded = decode_data_message(split_frames(data, size));
  if (!decoded.ok()) {
    require(!decoded.error().empty());
    return 0;
  }
  auto encoded = encode_data_message(*decoded);
  if (!encoded.ok()) return 0;  // e.g. re-serialized JSON over the control frame limit
  auto again = decode_data_message(*encoded);
  require(again.ok() && again->index() == decoded->index());
  return 0;
}
