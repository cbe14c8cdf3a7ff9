#include "cluster/dispatcher.h"

namespace ll::cluster {

void Dispatcher::add(proto::MessageType request, proto::MessageType reply, Handler handler, net::Role needed) {
  routes_[request] = Route{reply, std::move(handler), nullptr, needed};
}

void Dispatcher::add_deferred(proto::MessageType request, proto::MessageType reply, DeferredHandler handler,
                              net::Role needed) {
  routes_[request] = Route{reply, nullptr, std::move(handler), needed};
}

net::Role Dispatcher::needed(proto::MessageType request) const {
  auto it = routes_.find(request);
  return it == routes_.end() ? net::Role::kClient : it->second.needed;
}

bool Dispatcher::deferred(proto::MessageType request) const {
  auto it = routes_.find(request);
  return it != routes_.end() && it->second.deferred != nullptr;
}

void Dispatcher::dispatch_deferred(const proto::Envelope& request, std::function<void(Outcome)> deliver) const {
  auto it = routes_.find(request.type);
  if (it == routes_.end() || !it->second.deferred) return deliver(dispatch(request));
  const proto::MessageType reply_type = it->second.reply;
  const std::string name = proto::type_name(request.type);
  it->second.deferred(request, [deliver = std::move(deliver), reply_type, name](Result<proto::Json> body) {
    if (!body.ok()) return deliver(proto::ProtocolError{"internal", body.error(), name});
    proto::Envelope reply;
    reply.type = reply_type;
    reply.body = std::move(body.value());
    deliver(std::move(reply));
  });
}

std::variant<proto::Envelope, proto::ProtocolError> Dispatcher::dispatch(const proto::Envelope& request) const {
  const char* name = proto::type_name(request.type);
  auto it = routes_.find(request.type);
  if (it == routes_.end()) {
    return proto::ProtocolError{"unknown_type", std::string("no handler for ") + name, name};
  }
  if (!it->second.handler) return proto::ProtocolError{"internal", std::string(name) + " answers later", name};
  auto body = it->second.handler(request);
  if (!body.ok()) return proto::ProtocolError{"internal", body.error(), name};
  proto::Envelope reply;
  reply.type = it->second.reply;
  reply.body = std::move(body.value());
  return reply;
}

}  // namespace ll::cluster
