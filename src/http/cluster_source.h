// What the HTTP layer knows of the cluster, asked over the control protocol exactly as llctl asks it (get_devices,
// get_plan), starting from this daemon's own control endpoint: any daemon can serve HTTP, not only the leader.
// topology() is the document behind GET /api/topology, the page and /metrics (docs/http.md). Thread-safety: stateless
// calls, each with its own socket; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lingualinked/result.h"

namespace ll::http {

struct PlanRef {
  std::string model;  // the loaded model's name ("" when none)
  std::string head;   // the head stage's data endpoint ("" when none)
  uint64_t version = 0;
};

class ClusterSource {
 public:
  ClusterSource(std::string self_endpoint, std::chrono::milliseconds timeout)
      : self_(std::move(self_endpoint)), timeout_(timeout) {}

  // The plan in force: the model's name and where its head stage listens.
  [[nodiscard]] Result<PlanRef> current_plan() const;
  // Devices, links, the plan with its re-plans, and every planned device's stage counters.
  [[nodiscard]] Result<nlohmann::json> topology() const;

 private:
  [[nodiscard]] Result<nlohmann::json> ask(const std::string& endpoint, int type, int expected) const;
  [[nodiscard]] Result<PlanRef> current_plan_unchecked() const;
  [[nodiscard]] Result<nlohmann::json> topology_unchecked() const;
  [[nodiscard]] Result<nlohmann::json> leader_plan(const nlohmann::json& devices) const;

  std::string self_;
  std::chrono::milliseconds timeout_;
};

}  // namespace ll::http
