#include "deploy/deploy_server.h"

#include "common/log.h"
#include "net/zmq_transport.h"
#include "proto/limits.h"

namespace ll::deploy {
namespace {

constexpr Duration kIdleWait = std::chrono::milliseconds(50);

bool is_deploy_request(const proto::DataMessage& m) {
  return std::holds_alternative<proto::PlanMsg>(m) || std::holds_alternative<proto::FetchMsg>(m) ||
         std::holds_alternative<proto::LoadProgressMsg>(m) || std::holds_alternative<proto::StepStatsMsg>(m);
}

}  // namespace

Result<std::unique_ptr<DeployServer>> DeployServer::start(const std::string& bind, Handler handler) {
  net::ZmqOptions zo;
  zo.max_frame_bytes = proto::kMaxDataSocketFrameBytes;  // chunks travel here
  zo.immediate = false;
  zo.watch_connections = false;
  zo.linger_ms = 0;
  zo.plane = "deploy";
  auto transport = net::ZmqTransport::create(bind, zo);
  if (!transport) return make_error("deploy endpoint: " + transport.error());
  auto server = std::make_unique<DeployServer>(std::move(transport).value(), std::move(handler));
  server->thread_ = std::thread([s = server.get()] {
    while (!s->stopping_) s->turn(kIdleWait);
  });
  return server;
}

DeployServer::DeployServer(std::unique_ptr<net::Transport> transport, Handler handler)
    : transport_(std::move(transport)), handler_(std::move(handler)) {}

DeployServer::~DeployServer() { stop(); }

void DeployServer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void DeployServer::turn(Duration wait) {
  auto in = transport_->receive(wait);
  for (int n = 0; in && n < 64; ++n) {
    auto message = in->too_many_frames ? Result<proto::DataMessage>(make_error("too many frames"))
                                       : proto::decode_data_message(in->frames);
    std::optional<proto::DataMessage> answer;
    if (!message) {
      LL_WARN("deploy: refused a message: " << message.error());
      const char* code = proto::speaks_other_version(in->frames) ? "unsupported_version" : "malformed";
      answer = proto::DataErrorMsg{code, message.error()};
    } else if (is_deploy_request(*message) && !net::permits(in->sender.roles, net::Role::kDevice)) {
      // Plans, shard files and progress are between daemons: a user's key gets neither the weights nor a say.
      answer = proto::DataErrorMsg{"forbidden", std::string(proto::data_message_name(*message)) +
                                                    " needs the role device; key " + in->sender.name + " holds " +
                                                    net::roles_text(in->sender.roles)};
    } else if (is_deploy_request(*message)) {
      answer = handler_(in->sender, std::move(message).value());
    } else if (!std::holds_alternative<proto::DataErrorMsg>(*message)) {
      answer = proto::DataErrorMsg{"bad_request", std::string(proto::data_message_name(*message)) +
                                                      " is not a deploy request (the data endpoint serves it)"};
    }
    if (answer && in->via_peer.empty()) {
      if (auto frames = proto::encode_data_message(*answer)) {
        if (Status sent = transport_->reply(*in, std::move(frames).value()); !sent.ok())
          LL_DEBUG("deploy: answer not delivered: " << sent.error());
      }
    }
    if (n + 1 < 64) in = transport_->receive(Duration(0));
  }
}

}  // namespace ll::deploy
