// Who may talk to the HTTP API from a browser (docs/security.md, "The HTTP edge"): the Host header must name this
// server (its bound address, the address the connection arrived on, the loopback names when bound to loopback, or a
// name the operator lists), which defeats DNS rebinding; an Origin header must be this server's own origin or one the
// operator lists, which refuses cross-origin requests, including the "simple" POSTs a browser sends without a
// preflight. Pure functions of header values: no sockets. Thread-safety: a policy is immutable once made.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "http/api.h"
#include "lingualinked/result.h"

namespace ll::http {

struct EdgePolicy {
  int port = 0;                        // the bound port
  std::vector<std::string> own_names;  // names and literal addresses (lower case) that, with `port`, are this server
  std::vector<std::string> allowed_hosts;    // operator: "name" (any port), "name:port", or "*" (no Host check)
  std::vector<std::string> allowed_origins;  // operator: "scheme://host[:port]", or "*" (no Origin check)
};

// The policy of a server bound to `bound_host`:`port` (bound_host as given to --http, IPv6 without brackets).
[[nodiscard]] EdgePolicy make_edge_policy(const std::string& bound_host, int port,
                                          std::vector<std::string> allowed_hosts,
                                          std::vector<std::string> allowed_origins);

// Validates one http_allowed_hosts / http_allowed_origins entry; the error quotes it.
[[nodiscard]] Status check_allowed_host(const std::string& entry);
[[nodiscard]] Status check_allowed_origin(const std::string& entry);

struct EdgeRequest {
  std::optional<std::string> host;    // the Host header, if any
  std::optional<std::string> origin;  // the Origin header, if any
  std::string local_address;          // the address the connection arrived on (getsockname), IPv6 without brackets
};

// nullopt: serve it. Otherwise the 403 to answer, with a one-line message naming the header.
[[nodiscard]] std::optional<ApiError> check_edge(const EdgePolicy& policy, const EdgeRequest& request);

}  // namespace ll::http
