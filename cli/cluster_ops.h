// Cluster-side helpers shared by llctl subcommands: the leader's endpoint, the current plan, a generation on the
// cluster. Each returns a one-line error naming what failed.
#pragma once

#include <string>

#include "cli/control_client.h"
#include "lingualinked/result.h"
#include "proto/data_messages.h"

namespace ll::cli {

[[nodiscard]] Result<std::string> find_leader_endpoint(const std::string& endpoints);
// The plan as the daemon knows it: get_plan's body (version, stages, devices' progress, replans, head endpoint).
[[nodiscard]] Result<proto::Json> get_plan(const std::string& endpoints);

}  // namespace ll::cli
