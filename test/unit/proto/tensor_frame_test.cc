// Tensor frames: round trips, and every way a received frame can lie.
#include <catch2/catch.hpp>
#include <random>

#include "proto/limits.h"
#include "proto/tensor_frame.h"

using ll::proto::decode_tensor_frame;
using ll::proto::DType;
using ll::proto::encode_tensor_frame;
using ll::proto::TensorFrame;

namespace {
std::string header(uint8_t dtype, uint8_t rank, const std::vector<uint64_t>& dims, uint16_t reserved = 0) {
  std::string f = "LLT1";
  f += static_cast<char>(dtype);
  f += static_cast<char>(rank);
  f += static_cast<char>(reserved & 0xff);
  f += static_cast<char>(reserved >> 8);
  for (uint64_t d : dims) {
    for (int i = 0; i < 8; ++i) f += static_cast<char>((d >> (8 * i)) & 0xff);
  }
  return f;
}
}  // namespace

TEST_CASE("tensor frames round-trip with dtype and shape, little-endian dims", "[tensor]") {
  TensorFrame t;
  t.dtype = DType::kF32;
  t.shape = {2, 3};
  t.data.assign(24, '\x01');
  auto bytes = encode_tensor_frame(t);
  REQUIRE(bytes.ok());
  CHECK(bytes->size() == 8 + 16 + 24);
  CHECK(bytes->substr(0, 4) == "LLT1");
  CHECK(static_cast<uint8_t>((*bytes)[8]) == 2);  // first dim, least significant byte first
  auto back = decode_tensor_frame(*bytes);
  REQUIRE(back.ok());
  CHECK(back->dtype == DType::kF32);
  CHECK(back->shape == std::vector<uint64_t>{2, 3});
  CHECK(back->data == t.data);
}

TEST_CASE("a scalar and an empty tensor are valid", "[tensor]") {
  CHECK(decode_tensor_frame(header(4, 0, {}) + "abcd").ok());
  auto empty = decode_tensor_frame(header(1, 2, {0, 4096}));
  REQUIRE(empty.ok());
  CHECK(empty->data.empty());
}

TEST_CASE("the encoder refuses data that does not match the shape", "[tensor]") {
  TensorFrame t;
  t.dtype = DType::kF16;
  t.shape = {4};
  t.data.assign(7, 'x');
  CHECK_FALSE(encode_tensor_frame(t).ok());
}

TEST_CASE("malformed tensor frames are refused before allocation", "[tensor]") {
  CHECK_FALSE(decode_tensor_frame("").ok());
  CHECK_FALSE(decode_tensor_frame("LLT1").ok());
  CHECK_FALSE(decode_tensor_frame("XXXX" + header(1, 0, {}).substr(4) + "abcd").ok());     // magic
  CHECK_FALSE(decode_tensor_frame(header(0, 0, {}) + "a").ok());                           // dtype 0
  CHECK_FALSE(decode_tensor_frame(header(7, 0, {}) + "a").ok());                           // dtype 7
  CHECK_FALSE(decode_tensor_frame(header(6, 9, std::vector<uint64_t>(9, 1)) + "a").ok());  // rank 9
  CHECK_FALSE(decode_tensor_frame(header(6, 1, {1}, 1) + "a").ok());                       // reserved
  CHECK_FALSE(decode_tensor_frame(header(6, 2, {1}) + "a").ok());                          // dims cut short
  CHECK_FALSE(decode_tensor_frame(header(6, 1, {ll::proto::kMaxTensorDim + 1})).ok());     // one huge dim
  CHECK_FALSE(decode_tensor_frame(header(1, 3, {1u << 20, 1u << 20, 1u << 20})).ok());     // overflow
  CHECK_FALSE(decode_tensor_frame(header(1, 1, {ll::proto::kMaxTensorElements + 1})).ok());
}

TEST_CASE("truncated and padded payloads are refused", "[tensor]") {
  auto truncated = decode_tensor_frame(header(1, 1, {4}) + std::string(15, 'x'));
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.error().find("truncated") != std::string::npos);
  auto padded = decode_tensor_frame(header(1, 1, {4}) + std::string(17, 'x'));
  REQUIRE_FALSE(padded.ok());
  CHECK(padded.error().find("padded") != std::string::npos);
  CHECK(decode_tensor_frame(header(1, 1, {4}) + std::string(16, 'x')).ok());
}

TEST_CASE("random bytes never crash the tensor decoder", "[tensor][fuzz]") {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    if (rng() % 2 && s.size() >= 4) s.replace(0, 4, "LLT1");
    (void)decode_tensor_frame(s);
  }
  SUCCEED();
}
