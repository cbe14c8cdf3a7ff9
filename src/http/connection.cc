#include "http/connection.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/log.h"

namespace ll::http {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool close_requested = false;
thread_local bool head_done = false;

int poll_ms(Clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

// true when `sock` has `events` within `timeout_ms` (EINTR restarts the wait).
bool wait_for(socket_t sock, short events, int timeout_ms) {
  pollfd p{sock, events, 0};
  const auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
    timeout_ms = poll_ms(end - Clock::now());
  }
}

struct SocketAddress {
  std::string ip;  // numeric; "" when unknown
  int port = 0;
};

SocketAddress numeric_address(const sockaddr_storage& addr, socklen_t len) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {};
  }
  return {host, std::atoi(serv)};
}

SocketAddress peer_address(socket_t sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  return numeric_address(addr, len);
}

SocketAddress local_address(socket_t sock) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  return numeric_address(addr, len);
}

// One connection's socket as httplib reads it, with a deadline over each request: the first read of a request
// starts its clock, the first write (the response, or a 100 Continue) stops it. Reads are buffered, since httplib
// reads the request head one byte at a time.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, const ConnectionLimits& limits, const std::atomic<socket_t>& server_socket)
      : sock_(sock), limits_(limits), server_socket_(server_socket) {}

  bool has_buffered() const { return begin_ < end_; }
  void begin_request() {
    start_clock();
    head_bytes_ = 0;
    head_done = false;
  }
  bool timed_out() const { return timed_out_; }
  bool head_too_large() const { return head_bytes_ > limits_.max_head_bytes; }

  bool is_readable() const override { return has_buffered() || wait_readable(); }
  bool is_writable() const override {
    if (!wait_for(sock_, POLLOUT, poll_ms(limits_.write_timeout))) return false;
    // Still connected? A readable socket with nothing to peek at has been closed by the client.
    if (!wait_for(sock_, POLLIN, 0)) return true;
    char c;
    return ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!deadline_) start_clock();  // reading again after a write: the body after a 100 Continue
    if (!has_buffered()) {
      if (!wait_readable()) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buffer_, sizeof buffer_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    if (!head_done) {
      head_bytes_ += n;
      if (head_bytes_ > limits_.max_head_bytes) {
        timed_out_ = true;  // ends the connection like a timeout: no answer is owed to a head this size
        return -1;
      }
    }
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    deadline_.reset();  // the request has been read: what follows is the response
    if (!wait_for(sock_, POLLOUT, poll_ms(limits_.write_timeout))) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  // httplib's interface (output parameters are its, not ours).
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    const SocketAddress a = peer_address(sock_);
    ip = a.ip;
    port = a.port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    const SocketAddress a = local_address(sock_);
    ip = a.ip;
    port = a.port;
  }
  socket_t socket() const override { return sock_; }

 private:
  void start_clock() { deadline_ = Clock::now() + limits_.request_timeout; }

  // Waits for request bytes until the deadline, in slices so that a server being stopped (its listening socket
  // closed) does not wait out a slow client's deadline.
  bool wait_readable() const {
    const auto end = deadline_ ? *deadline_ : Clock::now() + limits_.request_timeout;
    while (server_socket_ != INVALID_SOCKET) {
      const auto left = end - Clock::now();
      if (left <= Clock::duration::zero()) break;
      if (wait_for(sock_, POLLIN, std::min(poll_ms(left), kStopCheckMs))) return true;
    }
    timed_out_ = true;
    return false;
  }

  static constexpr int kStopCheckMs = 200;
  const socket_t sock_;
  const ConnectionLimits& limits_;
  const std::atomic<socket_t>& server_socket_;
  std::optional<Clock::time_point> deadline_;
  mutable bool timed_out_ = false;
  size_t head_bytes_ = 0;
  char buffer_[4096];
  size_t begin_ = 0;
  size_t end_ = 0;
};

// A one-shot answer to a connection that is not served: nothing of its request has been read.
void refuse(socket_t sock, const ConnectionLimits& limits) {
  static const std::string body =
      R"({"error":{"message":"too many connections from this address","type":"server_error","param":null,)"
      R"("code":"too_many_connections"}})";
  const std::string response =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: "
      "1\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  if (wait_for(sock, POLLOUT, poll_ms(limits.write_timeout))) {
    (void)::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

}  // namespace

void GuardedServer::close_after_response() { close_requested = true; }
void GuardedServer::head_complete() { head_done = true; }

void GuardedServer::log_refusal(const std::string& reason, const std::string& address) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    if (last_logged_.size() > 1024) last_logged_.clear();  // bounded, whatever the number of addresses
    auto [it, fresh] = last_logged_.emplace(reason + " " + address, now);
    if (!fresh && now - it->second < std::chrono::seconds(10)) return;
    it->second = now;
  }
  LL_WARN("http: " << reason << " (client " << (address.empty() ? "?" : address) << ")");
}

bool GuardedServer::admit(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  int& open = open_by_address_[address];
  if (open >= limits_.max_client_connections) return false;
  ++open;
  return true;
}

void GuardedServer::release(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = open_by_address_.find(address);
  if (it != open_by_address_.end() && --it->second <= 0) open_by_address_.erase(it);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  const std::string address = peer_address(sock).ip;
  bool ok = false;
  if (!admit(address)) {
    log_refusal("refused: more than " + std::to_string(limits_.max_client_connections) + " connections at once",
                address);
    refuse(sock, limits_);
  } else {
    DeadlineStream stream(sock, limits_, svr_sock_);
    for (int served = 0; served < limits_.max_requests_per_connection && svr_sock_ != INVALID_SOCKET; ++served) {
      // Between requests: a keep-alive connection may stay quiet this long before it is closed.
      if (!stream.has_buffered() && !wait_for(sock, POLLIN, poll_ms(limits_.keep_alive_timeout))) break;
      stream.begin_request();
      close_requested = false;
      bool closed = false;
      const bool last = served + 1 == limits_.max_requests_per_connection;
      ok = process_request(stream, last, closed, nullptr);
      if (stream.timed_out()) {
        if (svr_sock_ == INVALID_SOCKET) break;  // cut short by stop(), not by the client
        log_refusal(
            stream.head_too_large()
                ? "closed: a request head over " + std::to_string(limits_.max_head_bytes) + " bytes"
                : "closed: a request not complete within " + std::to_string(limits_.request_timeout.count()) + " ms",
            address);
        break;
      }
      if (!ok || closed || close_requested) break;
    }
    release(address);
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace ll::http
