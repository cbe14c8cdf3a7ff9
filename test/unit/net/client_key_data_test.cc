// A client key (role client, CURVE-authenticated) against the data plane of a live cluster: it tries to write into
// and end another user's generation. Hidden (tag [.client_key_data]): run by test/integration/admission.sh with
// LL_KEYS (the client's keys folder), LL_HEAD_DATA (the head's data endpoint), LL_STAGE_DATA (another stage's) and
// LL_VICTIM (the victim's session id, as the head logged it). Every ring message is refused as "forbidden"; the
// cancel gets no answer, and the victim's generation must finish untouched (the script checks).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <zmq.hpp>

#include "net/curve.h"
#include "net/transport.h"
#include "proto/data_messages.h"

using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE(v != nullptr);
  return v;
}

// The error code of the reply to `message` sent to `endpoint`, "(no reply)" if none within the timeout.
std::string answer_code(const std::string& endpoint, const ll::proto::DataMessage& message,
                        std::chrono::milliseconds timeout = 2s) {
  auto frames = ll::proto::encode_data_message(message);
  REQUIRE(frames.ok());
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  ll::net::secure_client(socket);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  for (size_t i = 0; i < frames->size(); ++i) {
    socket.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) <= 0) return "(no reply)";
  ll::net::Frames reply;
  zmq::message_t part;
  do {
    if (!socket.recv(part, zmq::recv_flags::none)) break;
    reply.emplace_back(part.data<char>(), part.size());
  } while (part.more());
  auto decoded = ll::proto::decode_data_message(reply);
  if (!decoded.ok()) return "(undecodable reply)";
  if (auto* error = std::get_if<ll::proto::DataErrorMsg>(&*decoded)) return error->code;
  return std::string("(reply ") + ll::proto::data_message_name(*decoded) + ")";
}

}  // namespace

TEST_CASE("a client key cannot write into or end another user's generation", "[.client_key_data]") {
  auto security = ll::net::load_keys_folder(env("LL_KEYS"), false);
  REQUIRE(security.ok());
  ll::net::install_security(std::move(security).value());
  const std::string head = env("LL_HEAD_DATA");
  const std::string stage = env("LL_STAGE_DATA");
  const uint64_t victim = std::stoull(env("LL_VICTIM"));
  const uint64_t plan_version = std::stoull(env("LL_PLAN_VERSION"));

  ll::proto::TokenMsg token;
  token.session = victim;
  token.plan_version = plan_version;
  token.position = 30;
  token.token = 5;
  CHECK(answer_code(head, token) == "forbidden");

  ll::proto::ActivationMsg activation;
  activation.session = victim;
  activation.plan_version = plan_version;
  activation.start_pos = 0;
  activation.hidden.dtype = ll::proto::DType::kF32;
  activation.hidden.shape = {1, 64};
  activation.hidden.data.assign(64 * 4, '\0');
  CHECK(answer_code(stage, activation) == "forbidden");

  CHECK(answer_code(stage, ll::proto::SessionEndMsg{victim}) == "forbidden");
  CHECK(answer_code(head, ll::proto::SessionEndMsg{victim}) == "forbidden");
  // A cancel is never answered; the head ignores one from a key that did not open the session.
  CHECK(answer_code(head, ll::proto::CancelMsg{victim}, 500ms) == "(no reply)");
}
