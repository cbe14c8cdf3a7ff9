// The HTTP edge against a real server on loopback (src/http/edge.h, src/http/connection.h): Host and Origin checks
// as a browser would trip them, and slow clients that must not stall the API. Raw sockets, so every header is exactly
// what an attacker would send. The server has no cluster behind it: the requests used never reach one (the page,
// and bodies refused before the cluster is asked).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "http/edge.h"
#include "http/server.h"

using namespace ll::http;

namespace {

using Clock = std::chrono::steady_clock;

// A TCP connection to 127.0.0.1:port from `source` (any 127/8 address: a distinct client address on one machine).
class Conn {
 public:
  Conn(int port, const char* source = "127.0.0.1") : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;

  void send(const std::string& bytes) { REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) >= 0); }
  // As send(), for bytes the server may stop reading midway (it closes the connection: the rest is lost).
  void send_all_or_closed(const std::string& bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;
      at += static_cast<size_t>(n);
    }
  }

  // Everything the server sends until it closes the connection; waits on the socket for at most `bound`.
  // closed() says whether the close came.
  std::string read_until_closed(std::chrono::milliseconds bound) {
    std::string out;
    const auto end = Clock::now() + bound;
    while (!closed_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      if (left < 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) closed_ = true;  // end of stream, or reset
      if (n > 0) out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Exactly `n` more bytes (fewer if the server closes or `bound` passes).
  std::string read_bytes(size_t n, std::chrono::milliseconds bound) {
    std::string out;
    const auto end = Clock::now() + bound;
    while (!closed_ && out.size() < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left < 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[4096];
      const ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0) closed_ = true;
      if (got > 0) out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  // What the server sends until `marker` has arrived (or it closes, or `bound` passes).
  std::string read_until(const std::string& marker, std::chrono::milliseconds bound) {
    std::string out;
    const auto end = Clock::now() + bound;
    while (!closed_ && out.find(marker) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left < 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char c;
      if (::recv(fd_, &c, 1, 0) <= 0)
        closed_ = true;  // one byte at a time: nothing past the marker is taken
      else
        out += c;
    }
    return out;
  }
  // Waits up to `step` for the server to close; when it has not, sends one more byte of the request. The test
  // waits on the close event; the byte keeps a per-read timeout (httplib's own) from ending the connection.
  bool trickle_until_closed(std::chrono::milliseconds step, std::chrono::milliseconds bound) {
    const auto end = Clock::now() + bound;
    while (!closed_ && Clock::now() < end) {
      read_until_closed(step);
      if (!closed_ && ::send(fd_, "x", 1, MSG_NOSIGNAL) < 0) closed_ = true;
    }
    return closed_;
  }
  bool closed() const { return closed_; }

 private:
  int fd_;
  bool closed_ = false;
};

// Makes `c` hold its address's connection slot with an unfinished request. The server admits connections on pool
// threads, in no fixed order with the address's next connection: a first request answered on `c` shows that `c` was
// admitted (the event itself, not a guess at timing); the unfinished second request then holds the slot.
void hold_slot(Conn& c, const std::string& host, const std::string& unfinished) {
  c.send("GET /health HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
  const std::string head = c.read_until("\r\n\r\n", std::chrono::milliseconds(10000));
  REQUIRE(head.rfind("HTTP/1.1 ", 0) == 0);
  const auto length = head.find("Content-Length: ");
  REQUIRE(length != std::string::npos);
  const size_t body = std::stoul(head.substr(length + 16));
  REQUIRE(c.read_bytes(body, std::chrono::milliseconds(10000)).size() == body);
  c.send(unfinished);
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

bool has_header(const std::string& response, const std::string& name) {
  const std::string head = response.substr(0, response.find("\r\n\r\n"));
  std::string lower_head = head;
  for (auto& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower_head.find("\r\n" + name + ":") != std::string::npos;
}

std::string body_of(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// One request on a fresh connection, "Connection: close", the whole answer.
std::string ask(int port, const std::string& method, const std::string& path, const std::vector<std::string>& headers,
                const std::string& body = "", const char* source = "127.0.0.1") {
  Conn c(port, source);
  std::string request = method + " " + path + " HTTP/1.1\r\nConnection: close\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  c.send(request + "\r\n" + body);
  std::string response = c.read_until_closed(std::chrono::milliseconds(5000));
  REQUIRE(c.closed());
  return response;
}

struct Server {
  explicit Server(HttpOptions o = HttpOptions()) {
    o.address = HttpAddress{"127.0.0.1", 0};
    o.control_endpoint = "tcp://127.0.0.1:1";  // nothing there: no test request reaches the cluster
    auto started = HttpServer::start(o);
    REQUIRE(started.ok());
    server = std::move(started).value();
    port = server->port();
    self = "127.0.0.1:" + std::to_string(port);
  }
  std::unique_ptr<HttpServer> server;
  int port = 0;
  std::string self;
};

const std::string kBadBody = R"({"model":)";  // refused by the parser (400) before the cluster is asked

}  // namespace

TEST_CASE("DnsRebindingHostIsRefusedWith403", "[http][edge]") {
  Server s;
  const std::string port = std::to_string(s.port);
  // A page of attacker.example rebound to 127.0.0.1: the browser sends the attacker's name as Host.
  for (const std::string& host :
       std::vector<std::string>{"attacker.example:" + port, "attacker.example", "127.0.0.1.attacker.example:" + port,
                                "localhost:1", "[::1]:" + std::to_string(s.port + 1)}) {
    const std::string r = ask(s.port, "GET", "/", {"Host: " + host});
    CHECK(status_of(r) == 403);
    const std::string body = body_of(r);
    CHECK(body.find("\n") == std::string::npos);
    CHECK(body.find("not this server") != std::string::npos);
    CHECK(body.find("\"code\":\"forbidden\"") != std::string::npos);
  }
  CHECK(status_of(ask(s.port, "GET", "/", {})) == 403);  // no Host at all
  // The completion endpoint too, before its body is read.
  CHECK(status_of(ask(s.port, "POST", "/v1/completions", {"Host: attacker.example:" + port}, kBadBody)) == 403);
  // This server's own names with its port are served.
  for (const std::string& host :
       std::vector<std::string>{s.self, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port}) {
    CHECK(status_of(ask(s.port, "GET", "/", {"Host: " + host})) == 200);
  }
}

TEST_CASE("CrossOriginSimplePostIsRefusedAndTheOwnPageIsServed", "[http][edge]") {
  Server s;
  const std::vector<std::string> text_plain = {"Host: " + s.self, "Content-Type: text/plain"};
  // A form or fetch(no-cors) POST from another site carries its Origin and skips the preflight.
  for (const std::string& origin :
       std::vector<std::string>{"http://attacker.example", "null", "http://127.0.0.1:1", "https://evil.test"}) {
    auto headers = text_plain;
    headers.push_back("Origin: " + origin);
    const std::string r = ask(s.port, "POST", "/v1/completions", headers, kBadBody);
    CHECK(status_of(r) == 403);
    CHECK(body_of(r).find("cross-origin") != std::string::npos);
  }
  // The topology page's own requests (same origin) reach the handler: this body is a 400 from the parser.
  auto own = text_plain;
  own.push_back("Origin: http://" + s.self);
  CHECK(status_of(ask(s.port, "POST", "/v1/completions", own, kBadBody)) == 400);
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: " + s.self})) == 200);
}

TEST_CASE("ForeignPreflightGetsA403WithoutCorsHeaders", "[http][edge]") {
  Server s;
  const std::string r = ask(s.port, "OPTIONS", "/v1/chat/completions",
                            {"Host: " + s.self, "Origin: http://attacker.example",
                             "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"});
  CHECK(status_of(r) == 403);
  CHECK_FALSE(has_header(r, "access-control-allow-origin"));
  CHECK_FALSE(has_header(r, "access-control-allow-methods"));
}

TEST_CASE("OnlyOperatorListedHostsAndOriginsAreServedBesidesOurOwn", "[http][edge]") {
  HttpOptions o;
  o.allowed_hosts = {"box.lan", "proxy.lan:443"};
  o.allowed_origins = {"https://app.example"};
  Server s(o);
  const std::string port = std::to_string(s.port);
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: box.lan:" + port})) == 200);
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: box.lan"})) == 200);
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: proxy.lan:443"})) == 200);
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: proxy.lan:8443"})) == 403);
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: other.lan:" + port})) == 403);
  CHECK(status_of(ask(s.port, "POST", "/v1/completions", {"Host: " + s.self, "Origin: https://app.example"},
                      kBadBody)) == 400);
  CHECK(status_of(ask(s.port, "POST", "/v1/completions", {"Host: " + s.self, "Origin: https://app2.example"},
                      kBadBody)) == 403);
  HttpOptions bad;
  bad.allowed_origins = {"app.example"};  // no scheme
  bad.address = HttpAddress{"127.0.0.1", 0};
  auto refused = HttpServer::start(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().find("http_allowed_origins") != std::string::npos);
}

TEST_CASE("TricklingClientsDoNotStallTheApiAndAreClosedAtTheRequestDeadline", "[http][edge]") {
  HttpOptions o;
  o.threads = 2;
  o.request_timeout = std::chrono::milliseconds(3000);
  o.max_client_connections = 1;
  Server s(o);
  // Three slow-loris clients from one address: each sends a request line by halves and never ends its head.
  std::vector<std::unique_ptr<Conn>> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(std::make_unique<Conn>(s.port, "127.0.0.2"));
    slow.back()->send("GET / HT");
  }
  // A normal client from another address is answered while they trickle: at least one of them still holds its
  // connection (and a pool thread) when the answer comes.
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: " + s.self})) == 200);
  int still_open = 0;
  for (auto& c : slow) {
    c->read_until_closed(std::chrono::milliseconds(0));
    still_open += c->closed() ? 0 : 1;
  }
  CHECK(still_open >= 1);
  // Every trickler is closed (the ones over the address's cap at once, with a 429) although it keeps sending.
  for (auto& c : slow) CHECK(c->trickle_until_closed(std::chrono::milliseconds(200), std::chrono::milliseconds(8000)));
  // And the address may connect again once they are gone.
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: " + s.self}, "", "127.0.0.2")) == 200);
}

TEST_CASE("OverTheAddressCapAConnectionGetsAOneLine429", "[http][edge]") {
  HttpOptions o;
  o.threads = 4;
  o.max_client_connections = 1;
  Server s(o);
  Conn holder(s.port, "127.0.0.3");
  hold_slot(holder, s.self, "GET / HTTP/1.1\r\nHost: " + s.self + "\r\n");  // an unfinished head holds the one slot
  // The second connection is refused; the holder's own request is not disturbed by it.
  Conn second(s.port, "127.0.0.3");
  const std::string r = second.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(second.closed());
  CHECK(status_of(r) == 429);
  CHECK(has_header(r, "retry-after"));
  CHECK(body_of(r).find("too many connections") != std::string::npos);
  holder.send("\r\n");
  const std::string held = holder.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(status_of(held) == 200);
}

TEST_CASE("ChunkedLengthlessOrCompressedBodiesAreRefusedBeforeTheyAreRead", "[http][edge]") {
  Server s;
  const std::string head =
      "POST /v1/completions HTTP/1.1\r\nHost: " + s.self + "\r\nContent-Type: application/json\r\n";
  // Chunked: httplib 0.11.4 would read it with no size limit (CVE-2025-46728).
  Conn chunked(s.port);
  chunked.send(head + "Transfer-Encoding: chunked\r\n\r\n9\r\n{\"model\":\r\n0\r\n\r\n");
  std::string r = chunked.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(status_of(r) == 411);
  CHECK(body_of(r).find("Content-Length") != std::string::npos);
  // No length at all: httplib would read until the client closes.
  Conn lengthless(s.port);
  lengthless.send(head + "\r\n{\"model\":");
  r = lengthless.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(lengthless.closed());
  CHECK(status_of(r) == 411);
  // Compressed: httplib would inflate it with no limit (CVE-2026-22776).
  Conn gzip(s.port);
  gzip.send(head + "Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\n{\"model\":");
  r = gzip.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(status_of(r) == 415);
}

TEST_CASE("ARequestHeadOverTheLimitEndsTheConnectionUnanswered", "[http][edge]") {
  Server s;
  // 2000 short header lines (~120 KB): each passes httplib's per-line check and it has no count limit
  // (CVE-2025-52887); the head limit (64 KiB) ends the connection instead of serving it.
  std::string head = "GET / HTTP/1.1\r\nHost: " + s.self + "\r\n";
  for (int i = 0; i < 2000; ++i) head += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'a') + "\r\n";
  Conn c(s.port);
  c.send_all_or_closed(head + "\r\n");
  const std::string r = c.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(c.closed());
  CHECK(status_of(r) != 200);
  // A head under the limit is served as before.
  CHECK(status_of(ask(s.port, "GET", "/", {"Host: " + s.self, "X-Filler: " + std::string(4000, 'a')})) == 200);
}

TEST_CASE("StopDoesNotWaitForATricklingClientsDeadline", "[http][edge]") {
  HttpOptions o;
  o.threads = 2;
  o.max_client_connections = 1;
  o.request_timeout = std::chrono::milliseconds(60000);
  Server s(o);
  Conn slow(s.port, "127.0.0.4");
  hold_slot(slow, s.self, "GET / HT");
  // The address's second connection is refused only once the first holds its slot (and a pool thread).
  Conn second(s.port, "127.0.0.4");
  CHECK(status_of(second.read_until_closed(std::chrono::milliseconds(5000))) == 429);
  // Shutting down (the daemon's SIGTERM) ends the unfinished request instead of waiting out its 60 s.
  auto stopped = std::async(std::launch::async, [&] { s.server->stop(); });
  CHECK(stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  slow.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(slow.closed());
}

TEST_CASE("ABodyAfter100ContinueIsNotCountedAsRequestHead", "[http][edge]") {
  Server s;
  // A 200 KB body (over the 64 KiB head limit) announced with Expect: 100-continue, as curl sends large bodies: the
  // server answers 100, reads the body, and the parser refuses it (400), not the head limit.
  const std::string body = "{\"model\":\"m\",\"prompt\":\"" + std::string(200000, 'a') + "\",\"max_tokens\":-1}";
  Conn c(s.port);
  c.send("POST /v1/completions HTTP/1.1\r\nHost: " + s.self + "\r\nConnection: close\r\nExpect: 100-continue\r\n" +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  REQUIRE(c.read_until("\r\n\r\n", std::chrono::milliseconds(5000)).find("100 Continue") != std::string::npos);
  c.send_all_or_closed(body);
  const std::string answer = c.read_until_closed(std::chrono::milliseconds(5000));
  CHECK(status_of(answer) == 400);
  CHECK(body_of(answer).find("max_tokens") != std::string::npos);
}

TEST_CASE("AWildcardBindServesTheAddressTheClientReachedAlsoThroughDualStack", "[http][edge]") {
  for (const char* bound : {"0.0.0.0", "::"}) {
    const EdgePolicy policy = make_edge_policy(bound, 8080, {}, {});
    EdgeRequest lan{std::string("192.168.1.5:8080"), std::nullopt, "192.168.1.5"};
    CHECK_FALSE(check_edge(policy, lan).has_value());
    // An IPv4 client of a dual-stack IPv6 socket: getsockname says ::ffff:192.168.1.5.
    EdgeRequest mapped{std::string("192.168.1.5:8080"), std::nullopt, "::ffff:192.168.1.5"};
    CHECK_FALSE(check_edge(policy, mapped).has_value());
    EdgeRequest v6{std::string("[fe80::1]:8080"), std::nullopt, "fe80::1"};
    CHECK_FALSE(check_edge(policy, v6).has_value());
    // Still no other name, and no other port.
    EdgeRequest rebound{std::string("attacker.example:8080"), std::nullopt, "::ffff:192.168.1.5"};
    CHECK(check_edge(policy, rebound).has_value());
    EdgeRequest other_port{std::string("192.168.1.5:9090"), std::nullopt, "192.168.1.5"};
    CHECK(check_edge(policy, other_port).has_value());
    EdgeRequest unknown_local{std::string(":8080"), std::nullopt, ""};
    CHECK(check_edge(policy, unknown_local).has_value());
  }
}
