// AccessGuard: who may talk to the server sockets of one zmq context, and a log line for everyone refused.
//  - ZAP (RFC 27) handler, when CURVE is on: admits a client only if its public key is in the allow-list (CURVE
//    alone admits any client that knows the server's public key).
//  - Handshake monitor on each guarded server socket: garbage, a wrong protocol or mechanism, a wrong server key or
//    a refused key each end in a logged "refused" line.
// Refusals are logged at most once per 10 s per reason and address, so a reconnecting stranger cannot flood the log.
// Create it after the server socket exists and before it binds. Thread-safety: runs its own thread; construct and
// destroy from the sockets' owner thread; destroy before the context.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "lingualinked/result.h"
#include "net/curve.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace ll::net {

class AccessGuard {
 public:
  // `label` names the sockets in log lines ("control", "data").
  [[nodiscard]] static Result<std::unique_ptr<AccessGuard>> start(zmq::context_t& context,
                                                                  const std::vector<zmq::socket_t*>& servers,
                                                                  std::string label);
  ~AccessGuard();
  AccessGuard(const AccessGuard&) = delete;
  AccessGuard& operator=(const AccessGuard&) = delete;

  [[nodiscard]] uint64_t refused() const { return refused_.load(); }
  [[nodiscard]] uint64_t admitted() const { return admitted_.load(); }

 private:
  struct Sockets;
  AccessGuard() = default;
  void run();
  void answer_zap();
  void read_monitor(size_t index);
  void log_refusal(const std::string& reason, const std::string& address);

  std::string label_;
  std::shared_ptr<const AllowList> allowed_;
  std::unique_ptr<Sockets> sockets_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> admitted_{0};
};

}  // namespace ll::net
