#include "http/head_stream.h"

#include <zmq.hpp>

#include <atomic>
#include <cstring>

#include "net/curve.h"
#include "proto/limits.h"

namespace ll::http {

namespace {
constexpr auto kConnectTimeout = std::chrono::milliseconds(3000);  // the connection and its CURVE handshake
std::atomic<int> monitor_count{0};
}  // namespace

struct HeadStream::Socket {
  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::dealer};
  zmq::socket_t monitor{context, zmq::socket_type::pair};
  std::string endpoint;
  bool connected = false;
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();

  void watch() {
    const std::string address = "inproc://http-head-stream-" + std::to_string(++monitor_count);
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

  // The next data message, or an error: `timeout` of silence, or the connection dropped ("lost": a killed head
  // closes its TCP connection at once, and the monitor sees that long before any timeout would).
  std::variant<proto::DataMessage, HeadError> receive(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return HeadError{"timeout", "no answer from the head stage at " + endpoint + " within " +
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
          return HeadError{"lost", "lost the head stage at " + endpoint + ": the connection dropped"};
        }
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
          return HeadError{"refused", "the head stage at " + endpoint + " refused this daemon's key"};
        }
      }
      if (!connected && std::chrono::steady_clock::now() - began > kConnectTimeout) {
        return HeadError{"lost", "no connection to the head stage at " + endpoint + " within " +
                                     std::to_string(kConnectTimeout.count()) + " ms"};
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
    socket->watch();
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
