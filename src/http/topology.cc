// cluster_topology: the devices as this daemon sees them, the leader's plan, and each planned device's own counters,
// joined into one document. Thread-safety: stateless.
#include "http/topology.h"

#include <map>

namespace ll::http {
namespace {

using Json = nlohmann::json;

std::string device_endpoint(const proto::DevicesBody& devices, const std::string& name) {
  for (const auto& d : devices.devices) {
    if (d.profile.name == name) return d.profile.endpoint;
  }
  return "";
}

Json counters_json(const client::StageCounters& c, const std::map<std::string, std::string>& name_of_data_endpoint) {
  // Bytes sent per link, by the receiving device's name where it is known.
  Json by_device = Json::object();
  for (const auto& [endpoint, bytes] : c.bytes_sent) {
    const auto it = name_of_data_endpoint.find(endpoint);
    by_device[it != name_of_data_endpoint.end() && !it->second.empty() ? it->second : endpoint] = bytes;
  }
  return {{"plan_version", c.plan_version},
          {"open_sessions", c.open_sessions},
          {"steps", c.steps},
          {"batched_steps", c.batched_steps},
          {"tokens_generated", c.tokens_generated},
          {"replayed_sessions", c.replayed_sessions},
          {"compute_ms_avg", c.compute_ms_avg},
          {"queue_depth", c.queue_depth},
          {"emulated_speed", c.emulated_speed},
          {"bytes_sent", by_device}};
}

}  // namespace

Result<Json> cluster_topology(const client::ControlClient& self) {
  auto asked = self.get_devices();
  if (!asked) return make_error(asked.error().message);
  const proto::DevicesBody& devices = *asked;
  client::PlanInfo plan;
  const std::string leader = devices.leader.empty() ? "" : device_endpoint(devices, devices.leader);
  if (!leader.empty()) {
    auto p = client::ControlClient({leader}, "http", self.timeout()).get_plan();
    if (p) plan = std::move(p).value();
  }
  Json out;
  out["self"] = devices.self;
  out["leader"] = devices.leader;
  out["term"] = devices.term;
  out["model"] = plan.model;
  out["plan_version"] = plan.version;
  out["objective"] = plan.objective;
  out["predicted_ms_per_token"] = plan.predicted_s_per_token.value_or(0) * 1000;
  Json replans = Json::array();
  for (const client::Replan& r : plan.replans) {
    Json entry = {{"from_version", r.from_version}, {"reason", r.reason}};
    if (r.to_version) entry["to_version"] = *r.to_version;
    replans.push_back(entry);
  }
  out["replans"] = replans;
  // Stage of each device in the plan, with the leader's observation of its step time.
  std::map<std::string, Json> stage_of;
  Json ring = Json::array();
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const client::PlanStage& s = plan.stages[i];
    ring.push_back(s.device);
    const bool observed = i < plan.observed_stage_ms.size();
    stage_of[s.device] = {{"index", i},
                          {"first_shard", s.first_shard},
                          {"last_shard", s.last_shard},
                          {"layers", s.layers},
                          {"memory_used_bytes", s.memory_used_bytes},
                          {"predicted_ms", s.compute_s * 1000},
                          {"observed_ms", observed ? Json(plan.observed_stage_ms[i]) : Json(nullptr)}};
  }
  out["ring"] = ring;
  // Each device: its profile, its stage, and its own counters (asked of it; a silent device has none).
  std::map<std::string, std::string> name_of_data_endpoint;
  for (const auto& d : devices.devices) name_of_data_endpoint[d.profile.data_endpoint] = d.profile.name;
  Json rows = Json::array();
  for (const auto& d : devices.devices) {
    const proto::DeviceProfile& profile = d.profile;
    Json row = {{"name", profile.name},
                {"endpoint", profile.endpoint},
                {"role", d.role},
                {"state", d.state},
                {"memory_budget", profile.memory_budget},
                {"memory_free", profile.memory_free},
                {"memory_total", profile.memory_total},
                {"gflops_decode", profile.gflops_decode},
                {"stage", stage_of.count(profile.name) ? stage_of[profile.name] : Json(nullptr)},
                {"counters", nullptr}};
    if (!plan.stages.empty() && (d.state == "self" || d.state == "alive")) {
      auto own = client::ControlClient({profile.endpoint}, "http", self.timeout()).get_plan();
      if (own && own->stage) row["counters"] = counters_json(*own->stage, name_of_data_endpoint);
    }
    rows.push_back(row);
  }
  out["devices"] = rows;
  Json links = Json::array();
  for (const auto& l : devices.links) {
    links.push_back(
        {{"from", l.from}, {"to", l.to}, {"rtt_ms", l.stat.rtt_ms}, {"bandwidth_mbps", l.stat.bandwidth_mbps}});
  }
  out["links"] = links;
  return out;
}

}  // namespace ll::http
