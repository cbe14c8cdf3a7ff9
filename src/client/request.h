// One request, one reply over ZeroMQ: a DEALER connected to a daemon's ROUTER, for the control calls
// (control_client.h) and tests that speak to a daemon directly. Each call uses its own context and socket (no state
// kept). Thread-safety: safe to call from any thread.
#pragma once

#include <string>

#include "client/client_error.h"
#include "net/transport.h"

namespace ll::client {

// Sends `request` to `endpoint` and waits up to `timeout` for the reply: kTimeout when none comes (the daemon is
// not running, or refused this client's key), kUnreachable when the socket fails. The message names the endpoint.
[[nodiscard]] ClientResult<net::Frames> request_reply(const std::string& endpoint, const net::Frames& request,
                                                      Duration timeout);

}  // namespace ll::client
