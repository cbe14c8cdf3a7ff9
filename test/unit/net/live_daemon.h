// Helpers of the hidden tests that probe a running daemon (hostile_client_test, roles_live_test,
// client_key_data_test): the environment the integration script sets, the keys it names, and one CURVE-secured
// DEALER connection that sends a message and reads the answer within a bound. Test code only.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <string>
#include <zmq.hpp>

#include "net/curve.h"
#include "net/transport.h"
#include "proto/data_messages.h"

namespace ll::test {

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE(v != nullptr);
  return v;
}

// Installs the keys of the folder `dir` (a client's: no cluster secret needed).
inline void use_keys(const std::string& dir) {
  auto security = net::load_keys_folder(dir, false);
  REQUIRE(security.ok());
  net::install_security(std::move(security).value());
}

// One authenticated connection to an endpoint; ZeroMQ keeps its messages in order.
class LiveConnection {
 public:
  explicit LiveConnection(const std::string& endpoint) : socket_(context_, zmq::socket_type::dealer) {
    net::secure_client(socket_);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void send(const net::Frames& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  // The next message, or nothing within `timeout`.
  net::Frames receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0) return {};
    net::Frames reply;
    zmq::message_t part;
    do {
      if (!socket_.recv(part, zmq::recv_flags::none)) break;
      reply.emplace_back(part.data<char>(), part.size());
    } while (part.more());
    return reply;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

// The error code a data or deploy endpoint answers `frames` with on a fresh connection; "(reply X)" for another
// answer, "(no reply)" if none within `timeout`.
inline std::string data_answer_code(const std::string& endpoint, const net::Frames& frames,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
  LiveConnection c(endpoint);
  c.send(frames);
  auto reply = c.receive(timeout);
  if (reply.empty()) return "(no reply)";
  auto decoded = proto::decode_data_message(reply);
  if (!decoded.ok()) return "(undecodable reply)";
  if (auto* error = std::get_if<proto::DataErrorMsg>(&*decoded)) return error->code;
  return std::string("(reply ") + proto::data_message_name(*decoded) + ")";
}

inline std::string data_answer_code(const std::string& endpoint, const proto::DataMessage& message,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
  auto frames = proto::encode_data_message(message);
  REQUIRE(frames.ok());
  return data_answer_code(endpoint, *frames, timeout);
}

}  // namespace ll::test
