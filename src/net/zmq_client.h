// One request, one reply over ZeroMQ, for command-line clients (llctl): a DEALER connected to a daemon's ROUTER.
// Each call uses its own context and socket (no state kept). Thread-safety: safe to call from any thread.
#pragma once

#include <string>

#include "net/transport.h"

namespace ll::net {

// Sends `request` to `endpoint` and waits up to `timeout` for the reply. The error names the endpoint.
[[nodiscard]] Result<Frames> request_reply(const std::string& endpoint, const Frames& request, Duration timeout);

}  // namespace ll::net
