// Dispatcher: routes a validated client request (get_devices, get_status, ...) to its one handler and checks that
// the handler answers with the one reply type registered for it. Future commands (load, plan, generate) register
// here without touching the node's networking. Not thread-safe: used from the node's thread.
#pragma once

#include <functional>
#include <map>
#include <variant>

#include "proto/messages.h"

namespace ll::cluster {

class Dispatcher {
 public:
  // Builds the body of the reply; the node fills in the envelope (type, term, from).
  using Handler = std::function<Result<proto::Json>(const proto::Envelope& request)>;

  void add(proto::MessageType request, proto::MessageType reply, Handler handler);
  [[nodiscard]] bool handles(proto::MessageType request) const { return routes_.count(request) > 0; }

  // The reply envelope (type and body set), or the error to send back.
  [[nodiscard]] std::variant<proto::Envelope, proto::ProtocolError> dispatch(const proto::Envelope& request) const;

 private:
  struct Route {
    proto::MessageType reply;
    Handler handler;
  };
  std::map<proto::MessageType, Route> routes_;
};

}  // namespace ll::cluster
