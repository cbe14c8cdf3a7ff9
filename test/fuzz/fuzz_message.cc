// libFuzzer target: ll::proto::decode_message on arbitrary multipart messages, then the typed body decoders
// (scripts/fuzz). Input layout, repeated: u16 LE length, that many bytes = one frame (the last frame takes whatever
// is left if the input ends early); at most 12 frames. A message that decodes must re-encode and decode again to
// the same envelope; a typed body that decodes must survive to_json / from_json.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "proto/messages.h"

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

template <typename Body, typename... Args>
void check_body(const Json& j, Args... args) {
  auto body = Body::from_json(j, args...);
  if (!body.ok()) return;
  auto again = Body::from_json(body->to_json(), args...);
  require(again.ok());
}

void check_ping(const Json& j, bool pong) {
  auto body = PingBody::from_json(j, pong);
  if (!body.ok()) return;
  require(PingBody::from_json(body->to_json(pong), pong).ok());
}

void check_typed_body(const Envelope& msg) {
  switch (msg.type) {
    case MessageType::kHello:
      check_body<HelloBody>(msg.body, false);
      break;
    case MessageType::kWelcome:
      check_body<HelloBody>(msg.body, true);
      break;
    case MessageType::kHeartbeat:
      check_body<HeartbeatBody>(msg.body);
      break;
    case MessageType::kVoteReply:
      check_body<VoteReplyBody>(msg.body);
      break;
    case MessageType::kPing:
    case MessageType::kProbe:
      check_ping(msg.body, false);
      break;
    case MessageType::kPong:
      check_ping(msg.body, true);
      break;
    case MessageType::kDevices:
      check_body<DevicesBody>(msg.body);
      break;
    case MessageType::kStatus:
      check_body<StatusBody>(msg.body);
      break;
    case MessageType::kError:
      check_body<ErrorBody>(msg.body);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> frames = split_frames(data, size);
  auto decoded = decode_message(frames);
  if (const auto* error = std::get_if<ProtocolError>(&decoded)) {
    require(!error->code.empty() && !error->message.empty());
    (void)make_error_message("fuzz", 1, *error);
    return 0;
  }
  const Envelope& msg = std::get<Envelope>(decoded);
  require(msg.tensors.size() + 1 == frames.size());
  check_typed_body(msg);
  // Re-encoding may legitimately fail only when the re-serialized JSON outgrows the control frame limit.
  auto encoded = encode_message(msg);
  if (!encoded.ok()) return 0;
  auto again = decode_message(*encoded);
  require(std::holds_alternative<Envelope>(again));
  const Envelope& msg2 = std::get<Envelope>(again);
  require(msg2.type == msg.type && msg2.term == msg.term && msg2.from == msg.from && msg2.body == msg.body);
  require(msg2.tensors.size() == msg.tensors.size());
  return 0;
}
