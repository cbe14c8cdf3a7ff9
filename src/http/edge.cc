#include "http/edge.h"

#include <algorithm>
#include <cctype>

namespace ll::http {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct HostPort {
  std::string name;  // lower case, IPv6 without brackets
  int port = 0;      // 0: none given
};

// "name", "name:port", "[v6]", "[v6]:port". nullopt for anything else (a browser never sends it).
std::optional<HostPort> parse_host_port(const std::string& text) {
  if (text.empty() || text.size() > 300) return std::nullopt;
  HostPort hp;
  std::string rest;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close == 1) return std::nullopt;
    hp.name = lower(text.substr(1, close - 1));
    rest = text.substr(close + 1);
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos) return std::nullopt;  // bare v6
    hp.name = lower(text.substr(0, colon));
    rest = colon == std::string::npos ? "" : text.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
    if (rest.find_first_not_of("0123456789", 1) != std::string::npos) return std::nullopt;
    hp.port = std::stoi(rest.substr(1));
    if (hp.port < 1 || hp.port > 65535) return std::nullopt;
  }
  for (char c : hp.name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '_';
    if (!ok) return std::nullopt;
  }
  if (hp.name.empty()) return std::nullopt;
  return hp;
}

bool is_loopback_name(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// A header value quoted in a message (and the log): at most 100 bytes, control bytes and non-ASCII as '?'.
std::string quoted(const std::string& value) {
  std::string out = value.substr(0, 100);
  for (auto& c : out) {
    if (c < ' ' || c > '~') c = '?';
  }
  return "'" + out + "'";
}

ApiError forbidden(std::string message) {
  ApiError e = bad_request(std::move(message));
  e.status = 403;
  e.code = "forbidden";
  return e;
}

bool host_allowed(const EdgePolicy& policy, const HostPort& hp, const std::string& local_address) {
  const int port = hp.port == 0 ? 80 : hp.port;  // a Host without a port means the scheme's default
  // An IPv4 client of a dual-stack "::" bind arrives on "::ffff:a.b.c.d" and names "a.b.c.d".
  std::string local = lower(local_address);
  if (local.rfind("::ffff:", 0) == 0 && local.find('.') != std::string::npos) local = local.substr(7);
  if (port == policy.port && (contains(policy.own_names, hp.name) || (!local.empty() && hp.name == local))) {
    return true;
  }
  for (const auto& entry : policy.allowed_hosts) {
    if (entry == "*") return true;
    auto allowed = parse_host_port(entry);
    if (allowed && allowed->name == hp.name && (allowed->port == 0 || allowed->port == port)) return true;
  }
  return false;
}

}  // namespace

EdgePolicy make_edge_policy(const std::string& bound_host, int port, std::vector<std::string> allowed_hosts,
                            std::vector<std::string> allowed_origins) {
  EdgePolicy p;
  p.port = port;
  const std::string bound = lower(bound_host);
  // A wildcard bind names no host; the connection's own local address stands in for it (check_edge).
  if (bound != "0.0.0.0" && bound != "::") p.own_names.push_back(bound);
  if (is_loopback_name(bound)) {
    for (const char* name : {"localhost", "127.0.0.1", "::1"}) {
      if (!contains(p.own_names, name)) p.own_names.push_back(name);
    }
  }
  for (auto& h : allowed_hosts) h = lower(h);
  for (auto& o : allowed_origins) o = lower(o);
  p.allowed_hosts = std::move(allowed_hosts);
  p.allowed_origins = std::move(allowed_origins);
  return p;
}

Status check_allowed_host(const std::string& entry) {
  if (entry == "*" || parse_host_port(entry)) return Status::Ok();
  return make_error("'" + entry + "' is not NAME, NAME:PORT, [IPv6]:PORT or *");
}

Status check_allowed_origin(const std::string& entry) {
  if (entry == "*") return Status::Ok();
  const std::string l = lower(entry);
  for (const char* scheme : {"http://", "https://"}) {
    if (l.rfind(scheme, 0) == 0 && parse_host_port(l.substr(std::string(scheme).size()))) return Status::Ok();
  }
  return make_error("'" + entry + "' is not http(s)://HOST[:PORT] or *");
}

std::optional<ApiError> check_edge(const EdgePolicy& policy, const EdgeRequest& request) {
  if (!request.host) return forbidden("refused: the request has no Host header");
  auto hp = parse_host_port(*request.host);
  if (!hp || !host_allowed(policy, *hp, request.local_address)) {
    return forbidden("refused: Host " + quoted(*request.host) +
                     " is not this server (add it to http_allowed_hosts to serve it)");
  }
  if (!request.origin || contains(policy.allowed_origins, "*")) return std::nullopt;
  // Same origin: the page this server sent, reached under the Host just accepted (or through a TLS proxy).
  const std::string origin = lower(*request.origin);
  const std::string host = lower(*request.host);
  if (origin == "http://" + host || origin == "https://" + host || contains(policy.allowed_origins, origin)) {
    return std::nullopt;
  }
  return forbidden("refused: cross-origin request from " + quoted(*request.origin) +
                   " (add it to http_allowed_origins to serve it)");
}

}  // namespace ll::http
