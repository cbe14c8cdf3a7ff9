// The daemon's optional HTTP server (`lingualinkd --http HOST:PORT`, docs/http.md): the OpenAI-compatible API
// (/v1/completions, /v1/chat/completions with server-sent events, /v1/models), /health, /metrics, the topology
// document /api/topology and the live page at /. A completion is streamed from the head stage of the plan in force,
// found over the control protocol from this daemon, so any daemon can serve HTTP. Built on Debian's cpp-httplib:
// bounded body size, read/write timeouts and a fixed thread pool; a bearer token guards every data endpoint when one
// is configured, and a non-loopback bind is refused without one.
// Thread-safety: start/stop on one thread; requests are served on the server's own pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lingualinked/result.h"

namespace ll::http {

struct HttpAddress {
  std::string host;
  int port = 0;  // 0: any free port (the bound one is logged and returned by port())
};

// "HOST:PORT" (an IPv4 address, "localhost", or "[::1]"-style IPv6).
[[nodiscard]] Result<HttpAddress> parse_http_address(const std::string& text);
[[nodiscard]] bool is_loopback_host(const std::string& host);
// The rules of docs/http.md, "Security": a token is 16..256 printable ASCII characters without spaces, and a bind
// beyond loopback needs one.
[[nodiscard]] Status check_http_security(const HttpAddress& address, const std::string& token);

struct HttpOptions {
  HttpAddress address{"127.0.0.1", 8080};
  std::string token;                                 // "": no authentication (loopback only)
  int threads = 8;                                   // concurrent connections served (a streaming completion holds one)
  uint64_t max_body_bytes = 1 << 20;                 // larger bodies: 413
  std::chrono::milliseconds request_timeout{10000};  // a whole request (head and body) must arrive within this
  int max_client_connections = 0;                    // per client address; 0: half of `threads` (at least 1)
  std::vector<std::string> allowed_hosts;            // Host names served besides this server's own (http/edge.h)
  std::vector<std::string> allowed_origins;          // cross-origin callers allowed (http/edge.h)
  std::chrono::milliseconds head_timeout{60000};     // longest silence of the head stage in a generation
  std::string control_endpoint;                      // this daemon's control endpoint
};

class HttpServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> start(const HttpOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] int port() const;
  // Ends streams in flight (their sessions are cancelled), closes the socket, joins the pool.
  void stop();

 private:
  struct Impl;
  HttpServer();
  std::unique_ptr<Impl> impl_;
};

}  // namespace ll::http
