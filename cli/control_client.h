// One request, one reply with a daemon's control endpoint, for llctl subcommands. Tries each endpoint of a
// comma-separated list in turn; every failure is one line naming the endpoint. Stateless.
#pragma once

#include <string>
#include <vector>

#include "lingualinked/result.h"
#include "proto/messages.h"

namespace ll::cli {

[[nodiscard]] std::vector<std::string> split_endpoints(const std::string& list);

// Sends a request of `type` with `body`; returns the reply envelope when it has type `expected`. A daemon's error
// reply becomes an error naming the daemon.
[[nodiscard]] Result<proto::Envelope> ask_daemon(const std::string& endpoints, proto::MessageType type,
                                                 proto::MessageType expected, proto::Json body = proto::Json::object(),
                                                 int timeout_ms = 2500);

}  // namespace ll::cli
