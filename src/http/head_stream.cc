#include "http/head_stream.h"

#include <zmq.hpp>

#include "net/curve.h"
#include "proto/limits.h"

namespace ll::http {

struct HeadStream::Socket {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  std::string endpoint;

  bool send(const proto::DataMessage& message) {
    auto frames = proto::encode_data_message(message);
    if (!frames) return false;
    for (size_t i = 0; i < frames->size(); ++i) {
      socket.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    return true;
  }

  // The next data message, or an error after `timeout` of silence.
  std::variant<proto::DataMessage, HeadError> receive(std::chrono::milliseconds timeout) {
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) <= 0 || !(item.revents & ZMQ_POLLIN)) {
      return HeadError{"timeout", "no answer from the head stage at " + endpoint + " within " +
                                      std::to_string(timeout.count()) + " ms"};
    }
    std::vector<std::string> frames;
    zmq::message_t part;
    do {
      if (!socket.recv(part, zmq::recv_flags::none)) break;
      frames.push_back(part.to_string());
    } while (part.more() && frames.size() < 16);
    auto message = proto::decode_data_message(frames);
    if (!message) return HeadError{"malformed", "bad message from the head stage: " + message.error()};
    return std::move(message).value();
  }
};

HeadStream::HeadStream(std::unique_ptr<Socket> socket) : socket_(std::move(socket)) {}

HeadStream::~HeadStream() {
  // A stream abandoned mid-way (the HTTP client left): the head frees the session now, not at its idle timeout.
  if (socket_ && started_.session != 0 && !cancelled_) cancel();
}

std::variant<std::unique_ptr<HeadStream>, HeadError> HeadStream::open(const std::string& endpoint,
                                                                      const proto::GenerateMsg& request,
                                                                      std::chrono::milliseconds timeout) {
  try {
    auto socket = std::make_unique<Socket>();
    socket->endpoint = endpoint;
    net::secure_client(socket->socket);  // CURVE with this daemon's device key, when the cluster uses keys
    socket->socket.set(zmq::sockopt::linger, 200);
    socket->socket.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
    socket->socket.connect(endpoint);
    if (!socket->send(request)) return HeadError{"bad_request", "the request cannot be encoded"};
    auto answer = socket->receive(timeout);
    if (auto* error = std::get_if<HeadError>(&answer)) return *error;
    auto& message = std::get<proto::DataMessage>(answer);
    if (auto* error = std::get_if<proto::DataErrorMsg>(&message)) return *error;
    auto* started = std::get_if<proto::StartedMsg>(&message);
    if (!started)
      return HeadError{"malformed",
                       "the head stage answered a request with " + std::string(proto::data_message_name(message))};
    std::unique_ptr<HeadStream> stream(new HeadStream(std::move(socket)));
    stream->started_ = std::move(*started);
    return stream;
  } catch (const zmq::error_t& e) {
    return HeadError{"unreachable", "cannot talk to the head stage at " + endpoint + ": " + e.what()};
  }
}

HeadEvent HeadStream::next(std::chrono::milliseconds timeout) {
  try {
    while (true) {
      auto answer = socket_->receive(timeout);
      if (auto* error = std::get_if<HeadError>(&answer)) return *error;
      auto& message = std::get<proto::DataMessage>(answer);
      if (auto* tokens = std::get_if<proto::TokensMsg>(&message)) return std::move(*tokens);
      if (auto* done = std::get_if<proto::DoneMsg>(&message)) {
        started_.session = 0;  // ended: nothing to cancel
        return std::move(*done);
      }
      if (auto* error = std::get_if<proto::DataErrorMsg>(&message)) {
        started_.session = 0;
        return *error;
      }
      // Anything else is not for a client: skip it.
    }
  } catch (const zmq::error_t& e) {
    return HeadError{"unreachable", "lost the head stage at " + socket_->endpoint + ": " + e.what()};
  }
}

void HeadStream::cancel() {
  if (cancelled_ || started_.session == 0) return;
  cancelled_ = true;
  try {
    socket_->send(proto::CancelMsg{started_.session});
  } catch (const zmq::error_t&) {
    // The head is gone: its idle timeout frees the session.
  }
}

}  // namespace ll::http
