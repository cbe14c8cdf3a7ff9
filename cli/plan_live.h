// llctl plan without --simulate: asks the running cluster. See plan_live.cc.
#pragma once

#include <cstdint>
#include <string>

#include "cli/commands.h"

namespace ll::cli {

struct LivePlanOptions {
  std::string model;  // dry-run a package instead of showing the plan in force
  std::string objective = "latency";
  uint64_t context = 0;
  bool json = false;
  bool dot = false;
};

[[nodiscard]] int run_live_plan(const LivePlanOptions& options, const GlobalOptions& global);

}  // namespace ll::cli
