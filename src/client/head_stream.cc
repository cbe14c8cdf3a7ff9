// HeadStream over a ZeroMQ DEALER with a socket monitor: a killed head closes its TCP connection at once, and the
// monitor sees that long before any timeout would. Thread-safety: see the header.
#include "client/head_stream.h"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "net/curve.h"
#include "proto/limits.h"

namespace ll::client {

namespace {
std::atomic<int> monitor_count{0};
}  // namespace

struct HeadStream::Socket {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  zmq::socket_t monitor{context, zmq::socket_type::pair};
  std::string endpoint;
  HeadStreamOptions options;
  bool connected = false;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();

  void watch() {
    const std::string address = "inproc://client-head-stream-" + std::to_string(++monitor_count);
    if (zmq_socket_monitor(socket.handle(), address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
      throw zmq::error_t();
    }
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(address);
  }

  bool send(const proto::DataMessage& message) {
    auto frames = proto::encode_data_message(message);
    if (!frames) return false;
    for (size_t i = 0; i < frames->size(); ++i) {
      socket.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    return true;
  }

  // The next data message, or an error: `silence` (kTimeout or kLost) after `timeout` without a message, kLost when
  // the connection dropped or none was made, kRefused on a failed handshake. `on_poll` runs every 100 ms.
  std::variant<proto::DataMessage, ClientError> receive(std::chrono::milliseconds timeout, ErrorCode silence,
                                                        const std::function<void()>& on_poll) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (on_poll) on_poll();
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return ClientError{silence, "no answer from the head stage at " + endpoint + " within " +
                                        std::to_string(timeout.count()) + " ms"};
      }
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0}, {monitor.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::min(left, std::chrono::milliseconds(100)));
      if (items[1].revents & ZMQ_POLLIN) {
        zmq::message_t event, address;
        if (monitor.recv(event, zmq::recv_flags::none) && event.more()) (void)monitor.recv(address);
        uint16_t id = 0;
        if (event.size() >= 2) std::memcpy(&id, event.data(), 2);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) connected = true;
        if (id == ZMQ_EVENT_DISCONNECTED && connected) {
          return ClientError{ErrorCode::kLost, "lost the head stage at " + endpoint + ": the connection dropped"};
        }
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
          return ClientError{ErrorCode::kRefused,
                             endpoint + " refused this client's key (not in the cluster's allow-list)"};
        }
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
          return ClientError{ErrorCode::kRefused,
                             endpoint + ": handshake failed (CURVE keys on one side only, or a wrong cluster key)"};
        }
      }
      if (!connected && std::chrono::steady_clock::now() - began > options.connect_timeout) {
        return ClientError{ErrorCode::kLost, "no connection to the head stage at " + endpoint + " within " +
                                                 std::to_string(options.connect_timeout.count()) + " ms"};
      }
      if (items[0].revents & ZMQ_POLLIN) break;
    }
    std::vector<std::string> frames;
    zmq::message_t part;
    do {
      if (!socket.recv(part, zmq::recv_flags::none)) break;
      frames.push_back(part.to_string());
    } while (part.more() && frames.size() < 16);
    auto message = proto::decode_data_message(frames);
    if (!message) return ClientError{ErrorCode::kMalformed, "bad message from the head stage: " + message.error()};
    return std::move(message).value();
  }
};

HeadStream::HeadStream(std::unique_ptr<Socket> socket) : socket_(std::move(socket)) {}

HeadStream::~HeadStream() {
  // A stream abandoned mid-way (the client left): the head frees the session now, not at its idle timeout.
  if (socket_ && started_.session != 0 && !cancelled_) cancel();
}

ClientResult<std::unique_ptr<HeadStream>> HeadStream::open(const std::string& endpoint,
                                                           const proto::GenerateMsg& request,
                                                           std::chrono::milliseconds timeout,
                                                           const HeadStreamOptions& options) {
  try {
    auto socket = std::make_unique<Socket>();
    socket->endpoint = endpoint;
    socket->options = options;
    net::secure_client(socket->socket);  // CURVE with this process's keys, when the cluster uses keys
    socket->socket.set(zmq::sockopt::linger, 200);
    socket->socket.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
    socket->watch();
    socket->socket.connect(endpoint);
    if (!socket->send(request)) return ClientError{ErrorCode::kBadRequest, "the request cannot be encoded"};
    auto answer = socket->receive(timeout, ErrorCode::kTimeout, nullptr);
    if (auto* error = std::get_if<ClientError>(&answer)) return *error;
    auto& message = std::get<proto::DataMessage>(answer);
    if (auto* error = std::get_if<proto::DataErrorMsg>(&message)) {
      return ClientError{head_error_code(error->code), error->message};
    }
    auto* started = std::get_if<proto::StartedMsg>(&message);
    if (!started) {
      return ClientError{ErrorCode::kMalformed,
                         "the head stage answered a request with " + std::string(proto::data_message_name(message))};
    }
    std::unique_ptr<HeadStream> stream(new HeadStream(std::move(socket)));
    stream->started_ = std::move(*started);
    return stream;
  } catch (const zmq::error_t& e) {
    return ClientError{ErrorCode::kUnreachable, "cannot talk to the head stage at " + endpoint + ": " + e.what()};
  }
}

HeadEvent HeadStream::next(std::chrono::milliseconds timeout) {
  const std::atomic<bool>* flag = socket_->options.cancel;
  auto check_cancel = [this, flag] {
    if (flag && flag->load() && !cancelled_) cancel();
  };
  try {
    while (true) {
      auto answer = socket_->receive(timeout, ErrorCode::kLost, flag ? std::function<void()>(check_cancel) : nullptr);
      if (auto* error = std::get_if<ClientError>(&answer)) return *error;
      auto& message = std::get<proto::DataMessage>(answer);
      if (auto* tokens = std::get_if<proto::TokensMsg>(&message)) return std::move(*tokens);
      if (auto* done = std::get_if<proto::DoneMsg>(&message)) {
        started_.session = 0;  // ended: nothing to cancel
        return std::move(*done);
      }
      if (auto* error = std::get_if<proto::DataErrorMsg>(&message)) {
        started_.session = 0;
        return ClientError{head_error_code(error->code), error->message};
      }
      // Anything else is not for a client: skip it.
    }
  } catch (const zmq::error_t& e) {
    return ClientError{ErrorCode::kLost, "lost the head stage at " + socket_->endpoint + ": " + e.what()};
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

ClientResult<std::unique_ptr<HeadSession>> ZmqHeadConnector::open(const std::string& endpoint,
                                                                  const proto::GenerateMsg& request,
                                                                  std::chrono::milliseconds timeout) {
  LL_ASSIGN_OR_RETURN(std::unique_ptr<HeadStream> stream, HeadStream::open(endpoint, request, timeout, options_));
  return std::unique_ptr<HeadSession>(std::move(stream));
}

ClientResult<proto::DoneMsg> run_generation(const std::string& head_endpoint, const proto::GenerateMsg& request,
                                            const std::function<bool(const proto::TokensMsg&)>& on_tokens,
                                            const GenerationOptions& options) {
  LL_ASSIGN_OR_RETURN(std::unique_ptr<HeadStream> stream,
                      HeadStream::open(head_endpoint, request, options.answer_timeout, options.stream));
  while (true) {
    HeadEvent event = stream->next(options.answer_timeout);
    if (auto* tokens = std::get_if<proto::TokensMsg>(&event)) {
      if (on_tokens && !on_tokens(*tokens)) stream->cancel();
      continue;
    }
    if (auto* error = std::get_if<ClientError>(&event)) return *error;
    return std::get<proto::DoneMsg>(std::move(event));
  }
}

}  // namespace ll::client
