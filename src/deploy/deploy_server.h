// DeployServer: a device's deploy endpoint — plans from the leader, file fetches from peers, load progress to the
// leader — on a ZeroMQ socket and a thread of its own, so that a peer pulling a shard never shares the data plane's
// thread with activations. Every message is decoded and checked (proto/data_messages.h) before the handler sees it;
// anything but plan, fetch and load_progress is refused, and answers are never answered back.
// Thread-safety: start/stop from one thread; the handler runs on the server's thread and must be thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "lingualinked/result.h"
#include "net/transport.h"
#include "proto/data_messages.h"

namespace ll::deploy {

class DeployServer {
 public:
  // Returns the answer to send back, if any.
  // Gets the deploy requests of device-role senders (others are refused here).
  using Handler =
      std::function<std::optional<proto::DataMessage>(const net::Sender& sender, proto::DataMessage&& message)>;

  // Binds `bind` ("tcp://HOST:*" picks a free port) over ZeroMQ (CURVE when keys are configured).
  [[nodiscard]] static Result<std::unique_ptr<DeployServer>> start(const std::string& bind, Handler handler);
  // Over any transport (tests: net::InprocTransport).
  DeployServer(std::unique_ptr<net::Transport> transport, Handler handler);
  ~DeployServer();
  DeployServer(const DeployServer&) = delete;
  DeployServer& operator=(const DeployServer&) = delete;

  [[nodiscard]] const std::string& endpoint() const { return transport_->endpoint(); }
  // Handles what has arrived within `wait` (the server's thread calls it in a loop; tests call it directly).
  void turn(Duration wait);
  void stop();

 private:
  std::unique_ptr<net::Transport> transport_;
  const Handler handler_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ll::deploy
