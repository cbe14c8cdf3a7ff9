#include "net/access_guard.h"

#include <chrono>
#include <map>
#include <zmq.hpp>

#include "common/log.h"

namespace ll::net {

struct AccessGuard::Sockets {
  std::unique_ptr<zmq::socket_t> zap;   // REP on inproc://zeromq.zap.01; null when CURVE is off
  std::vector<zmq::socket_t> monitors;  // PAIR, one per guarded server socket
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged;
};

namespace {
std::atomic<int> g_monitor_id{0};
}

Result<std::unique_ptr<AccessGuard>> AccessGuard::start(zmq::context_t& context,
                                                        const std::vector<zmq::socket_t*>& servers, std::string label) {
  std::unique_ptr<AccessGuard> g(new AccessGuard());
  g->label_ = std::move(label);
  g->allowed_ = security().allowed;
  g->sockets_ = std::make_unique<Sockets>();
  try {
    if (security().enabled) {
      g->sockets_->zap = std::make_unique<zmq::socket_t>(context, zmq::socket_type::rep);
      g->sockets_->zap->set(zmq::sockopt::linger, 0);
      g->sockets_->zap->bind("inproc://zeromq.zap.01");
    }
    for (zmq::socket_t* server : servers) {
      const std::string address = "inproc://ll-guard-" + std::to_string(++g_monitor_id);
      const int events =
          ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
      if (zmq_socket_monitor(server->handle(), address.c_str(), events) != 0) throw zmq::error_t();
      zmq::socket_t monitor(context, zmq::socket_type::pair);
      monitor.set(zmq::sockopt::linger, 0);
      monitor.connect(address);
      g->sockets_->monitors.push_back(std::move(monitor));
    }
  } catch (const zmq::error_t& e) {
    return make_error("cannot guard the " + g->label_ + " sockets: " + e.what());
  }
  AccessGuard* self = g.get();
  g->thread_ = std::thread([self] { self->run(); });
  return g;
}

AccessGuard::~AccessGuard() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void AccessGuard::run() {
  std::vector<zmq::pollitem_t> items;
  const bool zap = sockets_->zap != nullptr;
  if (zap) items.push_back({sockets_->zap->handle(), 0, ZMQ_POLLIN, 0});
  for (auto& m : sockets_->monitors) items.push_back({m.handle(), 0, ZMQ_POLLIN, 0});
  while (!stop_) {
    try {
      if (zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100)) <= 0) continue;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!(items[i].revents & ZMQ_POLLIN)) continue;
        if (zap && i == 0) {
          answer_zap();
        } else {
          read_monitor(i - (zap ? 1 : 0));
        }
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      LL_WARN(label_ << " access guard: " << e.what());
    }
  }
  sockets_->zap.reset();
  sockets_->monitors.clear();
}

void AccessGuard::answer_zap() {
  zmq::socket_t& socket = *sockets_->zap;
  std::vector<zmq::message_t> frames;
  zmq::message_t part;
  do {
    if (!socket.recv(part, zmq::recv_flags::none)) return;
    if (frames.size() < 8) frames.push_back(std::move(part));
    part = zmq::message_t();
  } while (socket.get(zmq::sockopt::rcvmore));
  // version, request id, domain, address, identity, mechanism, credentials...
  auto frame = [&](size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
  const std::string version = frame(0), request_id = frame(1), address = frame(3), mechanism = frame(5);
  std::string status = "400", text, user, key = "(none)";
  if (mechanism == "CURVE" && frames.size() > 6 && frames[6].size() == 32) {
    char z85[41];
    zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
    key = z85;
    auto it = allowed_->find(key);
    if (it != allowed_->end()) {
      status = "200";
      user = key;  // messages carry it as their "User-Id": the transport looks up the sender's name and roles
    }
  }
  text = status == "200" ? "OK" : "key not allowed";
  const std::vector<std::string> reply = {version.empty() ? "1.0" : version, request_id, status, text, user, ""};
  for (size_t i = 0; i < reply.size(); ++i) {
    socket.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  if (status == "200") {
    ++admitted_;
    return;
  }
  log_refusal(mechanism == "CURVE" ? "key " + key + " is not in the allow-list" : "mechanism " + mechanism, address);
}

void AccessGuard::read_monitor(size_t index) {
  zmq::socket_t& monitor = sockets_->monitors[index];
  zmq::message_t event, address;
  if (!monitor.recv(event, zmq::recv_flags::none)) return;
  if (event.more()) (void)monitor.recv(address, zmq::recv_flags::none);
  if (event.size() < 6) return;
  uint16_t id = 0;
  uint32_t value = 0;
  std::memcpy(&id, event.data(), 2);
  std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) return;  // logged by the ZAP handler with the key
  std::string reason = id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "handshake failed";
  if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    switch (value) {
      case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        reason = "security mechanism mismatch (no CURVE keys, or CURVE against an --insecure daemon)";
        break;
      case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        reason = "cryptographic error (wrong cluster key)";
        break;
      default:
        reason = "malformed handshake (protocol error " + std::to_string(value) + ")";
    }
  } else if (value == EPROTO || value == 0) {
    reason = "handshake failed (no CURVE, a wrong cluster key, or not ZeroMQ at all)";
  }
  log_refusal(reason, address.to_string());
}

void AccessGuard::log_refusal(const std::string& reason, const std::string& address) {
  ++refused_;
  const auto now = std::chrono::steady_clock::now();
  auto& last = sockets_->last_logged;
  const std::string what = reason + "@" + address;
  auto it = last.find(what);
  if (it != last.end() && now - it->second < std::chrono::seconds(10)) return;
  if (last.size() > 4096) last.clear();
  last[what] = now;
  LL_WARN("refused a " << label_ << " connection" << (address.empty() ? "" : " on " + address) << ": " << reason);
}

}  // namespace ll::net
