// Dispatcher: routes a validated client request (get_devices, get_status, load, ...) to its one handler and checks
// that the handler answers with the one reply type registered for it. A deferred command answers later, from another
// thread (a load: the solver runs on the planner thread while the node goes on with heartbeats and elections).
// Not thread-safe: used from the node's thread (a deferred answer may be given on any thread).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <variant>

#include "net/allow_list.h"
#include "proto/messages.h"

namespace ll::cluster {

class Dispatcher {
 public:
  // Builds the body of the reply; the node fills in the envelope (type, term, from).
  using Handler = std::function<Result<proto::Json>(const proto::Envelope& request)>;

  // The answer of a deferred command: call it once, from any thread.
  using Answer = std::function<void(Result<proto::Json>)>;
  using DeferredHandler = std::function<void(const proto::Envelope& request, Answer answer)>;
  using Outcome = std::variant<proto::Envelope, proto::ProtocolError>;

  // `needed`: the role a sender's key must hold (docs/security.md, "Roles"); reading state is for any client,
  // changing the cluster (load, speed, removing a device) for an admin.
  void add(proto::MessageType request, proto::MessageType reply, Handler handler,
           net::Role needed = net::Role::kClient);
  void add_deferred(proto::MessageType request, proto::MessageType reply, DeferredHandler handler,
                    net::Role needed = net::Role::kClient);
  [[nodiscard]] bool handles(proto::MessageType request) const { return routes_.count(request) > 0; }
  // The role a request needs (kClient for a type with no handler: it is answered unknown_type).
  [[nodiscard]] net::Role needed(proto::MessageType request) const;
  [[nodiscard]] bool deferred(proto::MessageType request) const;

  // The reply envelope (type and body set), or the error to send back.
  [[nodiscard]] Outcome dispatch(const proto::Envelope& request) const;
  // Runs a deferred command; `deliver` gets its reply or error once, on whichever thread answers.
  void dispatch_deferred(const proto::Envelope& request, std::function<void(Outcome)> deliver) const;

 private:
  struct Route {
    proto::MessageType reply;
    Handler handler;
    DeferredHandler deferred;
    net::Role needed = net::Role::kClient;
  };
  std::map<proto::MessageType, Route> routes_;
};

}  // namespace ll::cluster
