// cpp-httplib's server with bounded connections (docs/security.md, "The HTTP edge"). Debian 12's cpp-httplib
// (0.11.4) times out each recv() on its own, so a client that sends one byte every few seconds holds a pool thread
// for as long as it likes, and a few such clients stall the API. This server runs each connection itself: a whole
// request (head and body) must arrive within `request_timeout`, and one client address holds at most
// `max_client_connections` connections (more are answered 429 and closed), so one host cannot take every thread.
// The requests themselves go through httplib's own parser and routing (Server::process_request).
// Thread-safety: as httplib::Server; connections are served on its task queue's threads.
#pragma once

#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace ll::http {

struct ConnectionLimits {
  std::chrono::milliseconds request_timeout{10000};  // from a request's first byte to its last
  std::chrono::milliseconds write_timeout{10000};    // longest wait for the client to take response bytes
  std::chrono::milliseconds keep_alive_timeout{1000};
  int max_requests_per_connection = 100;
  int max_client_connections = 4;  // connections open at once from one client address
  // A request line and headers beyond this end the connection. httplib 0.11.4 bounds neither the number of header
  // lines nor (before checking it) a line's length: CVE-2025-52887, CVE-2025-53628.
  size_t max_head_bytes = 64 * 1024;
};

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(ConnectionLimits limits) : limits_(limits) {}

  // Called from a handler on the connection's thread: close the connection after this response (a request refused
  // before its body was read, whose unread bytes must not be parsed as the next request).
  static void close_after_response();
  // Called once the request head has been parsed (the pre-routing handler): the body that follows is bounded by
  // the payload limit instead of max_head_bytes.
  static void head_complete();

  // A log line for a refused or closed client (`reason` says which): at most one per 10 s per reason and address, so a
  // reconnecting client cannot flood the log.
  void log_refusal(const std::string& reason, const std::string& address);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Counts a connection of `address`; false when it has max_client_connections already.
  bool admit(const std::string& address);
  void release(const std::string& address);

  const ConnectionLimits limits_;
  std::mutex mutex_;
  std::map<std::string, int> open_by_address_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged_;  // by reason and address
};

}  // namespace ll::http
