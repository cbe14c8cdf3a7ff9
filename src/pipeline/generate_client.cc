#include "pipeline/generate_client.h"

#include <atomic>
#include <cstring>
#include <zmq.hpp>

#include "net/curve.h"
#include "proto/limits.h"

namespace ll::pipeline {
namespace {

Status send_message(zmq::socket_t& socket, const proto::DataMessage& message) {
  LL_ASSIGN_OR_RETURN(auto frames, proto::encode_data_message(message));
  for (size_t i = 0; i < frames.size(); ++i) {
    socket.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  return Status::Ok();
}

}  // namespace

bool head_lost(const std::string& error) { return error.rfind(kHeadLostPrefix, 0) == 0; }
bool head_not_ready(const std::string& error) { return error.rfind(kHeadNotReadyPrefix, 0) == 0; }

Result<proto::DoneMsg> run_generation(const std::string& head_endpoint, const proto::GenerateMsg& request,
                                      const std::function<bool(const proto::TokensMsg&)>& on_tokens,
                                      const ClientOptions& options) {
  using Clock = std::chrono::steady_clock;
  const std::string lost = std::string(kHeadLostPrefix) + head_endpoint + ": ";
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    net::secure_client(socket);
    socket.set(zmq::sockopt::linger, 200);
    socket.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
    // A killed head closes its TCP connection at once: the monitor sees that long before any timeout would.
    static std::atomic<int> monitor_id{0};
    const std::string monitor_address = "inproc://generate-client-" + std::to_string(++monitor_id);
    if (zmq_socket_monitor(socket.handle(), monitor_address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
      throw zmq::error_t();
    }
    zmq::socket_t monitor(context, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(monitor_address);
    socket.connect(head_endpoint);
    LL_TRY_STATUS(send_message(socket, request));
    uint64_t session = 0;
    bool cancelled = false;
    bool connected = false;
    const auto began = Clock::now();
    auto last_message = Clock::now();
    while (true) {
      if (!cancelled && options.cancel && options.cancel->load() && session != 0) {
        LL_TRY_STATUS(send_message(socket, proto::CancelMsg{session}));
        cancelled = true;
      }
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0}, {monitor.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(100));
      if (items[1].revents & ZMQ_POLLIN) {
        zmq::message_t event, address;
        if (monitor.recv(event, zmq::recv_flags::none) && event.more()) (void)monitor.recv(address);
        uint16_t id = 0;
        if (event.size() >= 2) std::memcpy(&id, event.data(), 2);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) connected = true;
        if (id == ZMQ_EVENT_DISCONNECTED && connected) return make_error(lost + "the connection dropped");
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
          return make_error(head_endpoint + " refused this client's key (not in the cluster's allow-list)");
        }
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
          return make_error(head_endpoint + ": handshake failed (CURVE keys on one side only, or a wrong cluster key)");
        }
      }
      if (!(items[0].revents & ZMQ_POLLIN)) {
        const auto now = Clock::now();
        if (!connected && now - began > options.connect_timeout) {
          return make_error(lost + "no connection within " + std::to_string(options.connect_timeout.count()) + " ms");
        }
        if (now - last_message > options.answer_timeout) {
          return make_error(lost + "no answer within " + std::to_string(options.answer_timeout.count() / 1000) + " s");
        }
        continue;
      }
      last_message = Clock::now();
      std::vector<std::string> frames;
      zmq::message_t part;
      do {
        if (!socket.recv(part, zmq::recv_flags::none)) break;
        frames.push_back(part.to_string());
      } while (part.more() && frames.size() < 16);
      LL_ASSIGN_OR_RETURN(proto::DataMessage message, proto::decode_data_message(frames));
      if (auto* started = std::get_if<proto::StartedMsg>(&message)) {
        session = started->session;
      } else if (auto* tokens = std::get_if<proto::TokensMsg>(&message)) {
        if (on_tokens && !on_tokens(*tokens) && !cancelled) {
          LL_TRY_STATUS(send_message(socket, proto::CancelMsg{tokens->session}));
          cancelled = true;
        }
      } else if (auto* done = std::get_if<proto::DoneMsg>(&message)) {
        return std::move(*done);
      } else if (auto* error = std::get_if<proto::DataErrorMsg>(&message)) {
        if (error->code == "not_ready") return make_error(kHeadNotReadyPrefix + error->message);
        return make_error(error->message);
      }
    }
  } catch (const zmq::error_t& e) {
    return make_error("cannot talk to " + head_endpoint + ": " + e.what());
  }
}

}  // namespace ll::pipeline
