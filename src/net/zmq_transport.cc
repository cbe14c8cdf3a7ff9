#include "net/zmq_transport.h"

#include <cstring>
#include <vector>
#include <zmq.hpp>

#include "common/log.h"
#include "net/access_guard.h"
#include "net/curve.h"
#include "proto/limits.h"

namespace ll::net {
namespace {

// Routing frames (identity, delimiter) plus the protocol's own maximum; anything beyond is read and discarded.
constexpr size_t kMaxStoredFrames = 2 + 1 + proto::kMaxTensorFrames + 1;

std::string bind_spec(const std::string& listen) {
  // ZeroMQ spells "any free port" as '*'.
  if (listen.size() > 2 && listen.compare(listen.size() - 2, 2, ":0") == 0) {
    return listen.substr(0, listen.size() - 1) + "*";
  }
  return listen;
}

// Who sent a message that arrived on a server socket: the key ZAP admitted it with (access_guard.cc puts it in the
// message's User-Id), looked up in the allow-list.
Sender sender_of(zmq::message_t& first_part) {
  Sender sender;
  if (!security().enabled) return sender;
  sender.roles = 0;  // an unknown key holds no role
  const char* user = zmq_msg_gets(first_part.handle(), "User-Id");
  if (user == nullptr) return sender;
  sender.key = user;
  auto it = security().allowed->find(sender.key);
  if (it != security().allowed->end()) {
    sender.name = it->second.name;
    sender.roles = it->second.roles;
  }
  return sender;
}

// Reads one whole multipart message without blocking; false if none was ready.
bool read_message(zmq::socket_t& socket, std::vector<std::string>& parts, bool& too_many, Sender& sender) {
  zmq::message_t part;
  if (!socket.recv(part, zmq::recv_flags::dontwait)) return false;
  too_many = false;
  while (true) {
    if (parts.size() < kMaxStoredFrames) {
      parts.emplace_back(part.data<char>(), part.size());
    } else {
      too_many = true;
    }
    if (!part.more()) break;
    if (!socket.recv(part, zmq::recv_flags::none)) break;  // the rest of a multipart arrives atomically
  }
  sender = sender_of(part);  // a ROUTER's routing-id frame is made locally; the last frame came from the wire
  return true;
}

Status send_parts(zmq::socket_t& socket, const std::vector<std::string>& head, Frames& frames) {
  const size_t total = head.size() + frames.size();
  size_t i = 0;
  auto flags = [&](size_t index) {
    return index + 1 < total ? zmq::send_flags::sndmore | zmq::send_flags::dontwait : zmq::send_flags::dontwait;
  };
  for (const auto& h : head) {
    if (!socket.send(zmq::buffer(h), flags(i++))) return make_error("queue full or peer not connected");
  }
  for (auto& f : frames) {
    zmq::message_t msg(f.data(), f.size());
    if (!socket.send(msg, flags(i++))) return make_error("queue full or peer not connected");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ZmqTransport>> ZmqTransport::create(const std::string& listen, ZmqOptions options) {
  std::unique_ptr<ZmqTransport> t(new ZmqTransport());
  t->options_ = options;
  if (t->options_.max_frame_bytes <= 0) t->options_.max_frame_bytes = proto::kMaxSocketFrameBytes;
  if (t->options_.high_water_mark <= 0) t->options_.high_water_mark = proto::kReceiveHighWaterMark;
  try {
    t->context_ = std::make_unique<zmq::context_t>(1);
    t->router_ = std::make_unique<zmq::socket_t>(*t->context_, zmq::socket_type::router);
    auto& r = *t->router_;
    r.set(zmq::sockopt::router_mandatory, 1);
    r.set(zmq::sockopt::maxmsgsize, t->options_.max_frame_bytes);
    r.set(zmq::sockopt::rcvhwm, t->options_.high_water_mark);
    r.set(zmq::sockopt::sndhwm, t->options_.high_water_mark);
    r.set(zmq::sockopt::linger, 0);
    secure_server(r);
    LL_ASSIGN_OR_RETURN(t->guard_, AccessGuard::start(*t->context_, {&r}, t->options_.plane));
    r.bind(bind_spec(listen));
    t->endpoint_ = r.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return make_error("cannot listen on " + listen + ": " + e.what());
  }
  return t;
}

ZmqTransport::~ZmqTransport() {
  try {
    monitors_.clear();
    dealers_.clear();
    guard_.reset();
    router_.reset();
    context_.reset();
  } catch (const zmq::error_t& e) {
    LL_WARN("closing sockets: " << e.what());
  }
}

Result<zmq::socket_t*> ZmqTransport::dealer_for(const std::string& peer_endpoint) {
  auto it = dealers_.find(peer_endpoint);
  if (it != dealers_.end()) return it->second.get();
  if (dealers_.size() >= 2 * proto::kMaxMembers) return make_error("too many peer connections");
  try {
    auto s = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
    secure_client(*s);
    s->set(zmq::sockopt::immediate, options_.immediate ? 1 : 0);
    s->set(zmq::sockopt::maxmsgsize, options_.max_frame_bytes);
    s->set(zmq::sockopt::rcvhwm, options_.high_water_mark);
    s->set(zmq::sockopt::sndhwm, options_.high_water_mark);
    s->set(zmq::sockopt::linger, options_.linger_ms);
    s->set(zmq::sockopt::reconnect_ivl, options_.reconnect_ms);
    s->set(zmq::sockopt::reconnect_ivl_max, options_.reconnect_max_ms);
    if (options_.watch_connections) watch(peer_endpoint, *s);
    s->connect(peer_endpoint);
    auto* raw = s.get();
    dealers_.emplace(peer_endpoint, std::move(s));
    return raw;
  } catch (const zmq::error_t& e) {
    return make_error("cannot connect to " + peer_endpoint + ": " + e.what());
  }
}

Status ZmqTransport::send(const std::string& peer_endpoint, Frames frames) {
  LL_ASSIGN_OR_RETURN(zmq::socket_t * s, dealer_for(peer_endpoint));
  try {
    return send_parts(*s, {}, frames);
  } catch (const zmq::error_t& e) {
    return make_error("send to " + peer_endpoint + ": " + e.what());
  }
}

Status ZmqTransport::reply(const Incoming& to, Frames frames) {
  try {
    if (!to.via_peer.empty()) {
      auto it = dealers_.find(to.via_peer);
      if (it == dealers_.end()) return make_error("no connection to " + to.via_peer);
      return send_parts(*it->second, {}, frames);
    }
    if (to.reply_route.empty()) return make_error("message has no reply route");
    std::vector<std::string> head{to.reply_route};
    if (to.delimiter) head.emplace_back();
    return send_parts(*router_, head, frames);
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH under ROUTER_MANDATORY: the client went away.
    return make_error(std::string("reply: ") + e.what());
  }
}

void ZmqTransport::drain_readable(Duration timeout) {
  std::vector<zmq::pollitem_t> items;
  std::vector<std::string> names;
  items.push_back({router_->handle(), 0, ZMQ_POLLIN, 0});
  names.emplace_back();
  for (auto& [ep, s] : dealers_) {
    items.push_back({s->handle(), 0, ZMQ_POLLIN, 0});
    names.push_back(ep);
  }
  const size_t sockets = items.size();
  std::vector<std::string> watched;
  for (auto& [ep, m] : monitors_) {
    items.push_back({m.socket->handle(), 0, ZMQ_POLLIN, 0});
    watched.push_back(ep);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  try {
    if (zmq::poll(items, ms) <= 0) return;
    for (size_t i = sockets; i < items.size(); ++i) {
      if (items[i].revents & ZMQ_POLLIN) read_monitor(watched[i - sockets], monitors_[watched[i - sockets]]);
    }
    for (size_t i = 0; i < sockets; ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      zmq::socket_t& s = i == 0 ? *router_ : *dealers_[names[i]];
      // A bounded batch per socket per poll keeps one noisy sender from starving the others.
      for (int n = 0; n < 16; ++n) {
        std::vector<std::string> parts;
        bool too_many = false;
        Sender sender;
        if (!read_message(s, parts, too_many, sender)) break;
        Incoming in;
        in.too_many_frames = too_many;
        if (i == 0) {
          if (parts.empty()) continue;
          in.reply_route = std::move(parts[0]);
          size_t first = 1;
          if (parts.size() > 1 && parts[1].empty()) {
            in.delimiter = true;
            first = 2;
          }
          in.frames.assign(std::make_move_iterator(parts.begin() + static_cast<long>(first)),
                           std::make_move_iterator(parts.end()));
          in.sender = std::move(sender);
        } else {
          in.sender.roles = static_cast<Roles>(Role::kDevice);  // the server proved it holds the cluster key
          in.via_peer = names[i];
          in.frames = std::move(parts);
        }
        pending_.push_back(std::move(in));
      }
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) LL_WARN("receive: " << e.what());
  }
}

std::optional<Incoming> ZmqTransport::receive(Duration timeout) {
  if (pending_.empty()) drain_readable(timeout);
  if (pending_.empty()) return std::nullopt;
  Incoming in = std::move(pending_.front());
  pending_.pop_front();
  return in;
}

std::vector<std::string> ZmqTransport::take_unreachable() {
  std::vector<std::string> out;
  out.swap(unreachable_);
  return out;
}

void ZmqTransport::watch(const std::string& peer_endpoint, zmq::socket_t& dealer) {
  const std::string address = "inproc://ll-transport-monitor-" + std::to_string(++monitor_serial_);
  const int events =
      ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED;
  if (zmq_socket_monitor(dealer.handle(), address.c_str(), events) != 0) {
    LL_WARN("cannot watch the connection to " << peer_endpoint << ": " << zmq_strerror(zmq_errno()));
    return;  // the heartbeat timeout still tells
  }
  Monitor m;
  m.socket = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::pair);
  m.socket->set(zmq::sockopt::linger, 0);
  m.socket->connect(address);
  monitors_[peer_endpoint] = std::move(m);
}

void ZmqTransport::read_monitor(const std::string& peer_endpoint, Monitor& monitor) {
  for (int n = 0; n < 64; ++n) {
    zmq::message_t event, address;
    if (!monitor.socket->recv(event, zmq::recv_flags::dontwait)) return;
    if (event.more()) (void)monitor.socket->recv(address, zmq::recv_flags::none);
    if (event.size() < sizeof(uint16_t)) continue;
    uint16_t id = 0;
    std::memcpy(&id, event.data(), sizeof(id));
    ConnectionEvent what;
    if (id == ZMQ_EVENT_CONNECTED || id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
      what = ConnectionEvent::kConnected;
    else if (id == ZMQ_EVENT_DISCONNECTED)
      what = ConnectionEvent::kDisconnected;
    else if (id == ZMQ_EVENT_CONNECT_RETRIED)
      what = ConnectionEvent::kRetryScheduled;
    else
      continue;
    if (monitor.watch.on_event(what)) unreachable_.push_back(peer_endpoint);
  }
}

void ZmqTransport::disconnect(const std::string& peer_endpoint) {
  try {
    monitors_.erase(peer_endpoint);
    dealers_.erase(peer_endpoint);
  } catch (const zmq::error_t& e) {
    LL_WARN("disconnect " << peer_endpoint << ": " << e.what());
  }
}

}  // namespace ll::net
