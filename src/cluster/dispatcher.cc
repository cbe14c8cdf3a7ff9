#include "cluster/dispatcher.h"

namespace ll::cluster {

void Dispatcher::add(proto::MessageType request, proto::MessageType reply, Handler handler) {
  routes_[request] = Route{reply, std::move(handler)};
}

std::variant<proto::Envelope, proto::ProtocolError> Dispatcher::dispatch(const proto::Envelope& request) const {
  const char* name = proto::type_name(request.type);
  auto it = routes_.find(request.type);
  if (it == routes_.end()) {
    return proto::ProtocolError{"unknown_type", std::string("no handler for ") + name, name};
  }
  auto body = it->second.handler(request);
  if (!body.ok()) return proto::ProtocolError{"internal", body.error(), name};
  proto::Envelope reply;
  reply.type = it->second.reply;
  reply.body = std::move(body.value());
  return reply;
}

}  // namespace ll::cluster
