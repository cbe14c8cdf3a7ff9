// The topology document behind GET /api/topology, the page and /metrics (docs/http.md): devices, links, the plan with
// its re-plans, and every planned device's stage counters, asked over the control protocol (src/client/) from this
// daemon's own control endpoint: any daemon can serve HTTP, not only the leader.
// Thread-safety: stateless; each call asks with its own sockets; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>

#include "client/control_client.h"
#include "lingualinked/result.h"

namespace ll::http {

// `self` asks this daemon; the leader and each planned device are asked in turn.
[[nodiscard]] Result<nlohmann::json> cluster_topology(const client::ControlClient& self);

}  // namespace ll::http
