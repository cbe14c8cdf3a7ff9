// ZmqTransport: the ZeroMQ Transport. A ROUTER bound on the listen endpoint receives from peers and clients
// (ROUTER_MANDATORY, MAXMSGSIZE, bounded HWM); one DEALER per peer endpoint sends (IMMEDIATE: nothing is queued for
// a disconnected peer). zmq::error_t never leaves this file. Not thread-safe: one owner thread.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "net/connection_watch.h"
#include "net/transport.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace ll::net {

class AccessGuard;

struct ZmqOptions {
  int64_t max_frame_bytes = 0;  // ZMQ_MAXMSGSIZE; 0 = proto::kMaxSocketFrameBytes
  int linger_ms = 200;          // time a closing socket gets to flush (the 'bye')
  int reconnect_ms = 100;
  int reconnect_max_ms = 1000;
  int high_water_mark = 0;        // messages queued per socket; 0 = proto::kReceiveHighWaterMark
  bool immediate = true;          // ZMQ_IMMEDIATE: drop, rather than queue, what is sent before a peer connects
  bool watch_connections = true;  // report peers whose process is gone (take_unreachable)
  std::string plane = "control";  // names the access guard in logs
};

class ZmqTransport final : public Transport {
 public:
  // Binds the ROUTER on `listen` ("tcp://127.0.0.1:0" or ":*" picks a free port).
  [[nodiscard]] static Result<std::unique_ptr<ZmqTransport>> create(const std::string& listen, ZmqOptions options = {});
  ~ZmqTransport() override;

  const std::string& endpoint() const override { return endpoint_; }
  Status send(const std::string& peer_endpoint, Frames frames) override;
  Status reply(const Incoming& to, Frames frames) override;
  std::optional<Incoming> receive(Duration timeout) override;
  void disconnect(const std::string& peer_endpoint) override;
  std::vector<std::string> take_unreachable() override;

 private:
  struct Monitor {  // a PAIR socket receiving one DEALER's connection events
    std::unique_ptr<zmq::socket_t> socket;
    ConnectionWatch watch;
  };
  void watch(const std::string& peer_endpoint, zmq::socket_t& dealer);
  void read_monitor(const std::string& peer_endpoint, Monitor& monitor);

  ZmqTransport() = default;
  Result<zmq::socket_t*> dealer_for(const std::string& peer_endpoint);
  void drain_readable(Duration timeout);

  ZmqOptions options_;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<zmq::socket_t> router_;
  std::unique_ptr<AccessGuard> guard_;
  std::map<std::string, std::unique_ptr<zmq::socket_t>> dealers_;
  std::map<std::string, Monitor> monitors_;  // by peer endpoint, beside dealers_
  std::vector<std::string> unreachable_;
  uint64_t monitor_serial_ = 0;
  std::deque<Incoming> pending_;
  std::string endpoint_;
};

}  // namespace ll::net
