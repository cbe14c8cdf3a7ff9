// request_reply over a ZeroMQ DEALER (CURVE when this process has keys). Thread-safety: stateless.
#include "client/request.h"

#include <zmq.hpp>

#include "net/curve.h"
#include "proto/limits.h"

namespace ll::client {

ClientResult<net::Frames> request_reply(const std::string& endpoint, const net::Frames& request, Duration timeout) {
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    net::secure_client(socket);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::maxmsgsize, proto::kMaxSocketFrameBytes);
    socket.connect(endpoint);
    for (size_t i = 0; i < request.size(); ++i) {
      const auto flags = i + 1 < request.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      socket.send(zmq::buffer(request[i]), flags);
    }
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    if (zmq::poll(&item, 1, ms) <= 0) {
      return ClientError{ErrorCode::kTimeout,
                         "no answer from lingualinkd at " + endpoint + " within " + std::to_string(ms.count()) +
                             " ms (is it running?" +
                             (net::security().enabled ? " Are this client's keys in its allow-list?)"
                                                      : " If it uses CURVE keys, pass --keys DIR or set LL_KEYS.)")};
    }
    net::Frames reply;
    zmq::message_t part;
    do {
      if (!socket.recv(part, zmq::recv_flags::none)) break;
      if (reply.size() < 1 + proto::kMaxTensorFrames) reply.emplace_back(part.data<char>(), part.size());
    } while (part.more());
    return reply;
  } catch (const zmq::error_t& e) {
    return ClientError{ErrorCode::kUnreachable, "cannot talk to lingualinkd at " + endpoint + ": " + e.what()};
  }
}

}  // namespace ll::client
