#include "pipeline/generate_client.h"

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

Result<proto::DoneMsg> run_generation(const std::string& head_endpoint, const proto::GenerateMsg& request,
                                      const std::function<bool(const proto::TokensMsg&)>& on_tokens,
                                      const ClientOptions& options) {
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    net::secure_client(socket);
    socket.set(zmq::sockopt::linger, 200);
    socket.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
    socket.connect(head_endpoint);
    LL_TRY_STATUS(send_message(socket, request));
    uint64_t session = 0;
    bool cancelled = false;
    auto last_message = std::chrono::steady_clock::now();
    while (true) {
      if (!cancelled && options.cancel && options.cancel->load() && session != 0) {
        LL_TRY_STATUS(send_message(socket, proto::CancelMsg{session}));
        cancelled = true;
      }
      zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) {
        if (std::chrono::steady_clock::now() - last_message > options.answer_timeout) {
          return make_error("no answer from " + head_endpoint + " within " +
                            std::to_string(options.answer_timeout.count() / 1000) + " s");
        }
        continue;
      }
      last_message = std::chrono::steady_clock::now();
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
        return make_error(error->message);
      }
    }
  } catch (const zmq::error_t& e) {
    return make_error("cannot talk to " + head_endpoint + ": " + e.what());
  }
}

}  // namespace ll::pipeline
