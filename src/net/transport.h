// Transport: how a daemon exchanges multipart messages with peers and clients, without knowing what they mean.
// Implementations: ZmqTransport (ROUTER bound on the listen endpoint + one DEALER per peer) and InprocTransport
// (in-process, with a fault injector, for tests). A Transport is owned and used by one thread (the node's loop);
// it is not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "lingualinked/result.h"
#include "net/allow_list.h"

namespace ll::net {

using Frames = std::vector<std::string>;

// Who sent a message, as CURVE authenticated it (docs/security.md, "Roles").
struct Sender {
  std::string key;          // the sender's CURVE public key (Z85); empty when CURVE is off
  std::string name;         // its name in authorized_keys; empty when CURVE is off
  Roles roles = kAllRoles;  // CURVE off means loopback only, where every local process is trusted
};

struct Incoming {
  Frames frames;                 // the message: control frame first; routing frames removed
  std::string reply_route;       // opaque route for reply(); empty when the message cannot be answered in place
  bool delimiter = false;        // the sender used an empty delimiter frame (REQ style); reply() echoes it
  bool too_many_frames = false;  // frames beyond the protocol limit were discarded
  std::string via_peer;          // for messages that arrived on a peer connection we opened: that peer's endpoint
  Sender sender;                 // a reply on a connection we opened comes from a server: a device
};

class Transport {
 public:
  virtual ~Transport() = default;

  // The endpoint peers should use to reach us (the bound one, with the real port).
  [[nodiscard]] virtual const std::string& endpoint() const = 0;

  // One-way send to a peer's listen endpoint. Never blocks: if the peer is not connected or its queue is full the
  // message is dropped and an error is returned (callers treat it as a lost datagram).
  [[nodiscard]] virtual Status send(const std::string& peer_endpoint, Frames frames) = 0;

  // Answers `to` on the connection it arrived by.
  [[nodiscard]] virtual Status reply(const Incoming& to, Frames frames) = 0;

  // The next message, waiting at most `timeout`; nullopt on timeout.
  [[nodiscard]] virtual std::optional<Incoming> receive(Duration timeout) = 0;

  // Forgets the connection to a peer (e.g. it left the cluster); a later send reconnects.
  virtual void disconnect(const std::string& peer_endpoint) = 0;

  // Peers (by the endpoint we send to) whose connection dropped and whose address then refused a reconnect, since
  // the last call: their process is gone (net/connection_watch.h). Filled by receive().
  [[nodiscard]] virtual std::vector<std::string> take_unreachable() { return {}; }
};

}  // namespace ll::net
