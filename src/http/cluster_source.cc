#include "http/cluster_source.h"

#include <map>

#include "net/zmq_client.h"
#include "proto/messages.h"

namespace ll::http {
namespace {

using Json = nlohmann::json;

std::string device_endpoint(const Json& devices, const std::string& name) {
  for (const auto& d : devices.value("devices", Json::array())) {
    if (d.contains("profile") && d["profile"].value("name", "") == name) return d["profile"].value("endpoint", "");
  }
  return "";
}

}  // namespace

Result<Json> ClusterSource::ask(const std::string& endpoint, int type, int expected) const {
  proto::Envelope request;
  request.type = static_cast<proto::MessageType>(type);
  request.from = "http";
  request.body = Json::object();
  LL_ASSIGN_OR_RETURN(net::Frames frames, proto::encode_message(request));
  LL_ASSIGN_OR_RETURN(net::Frames reply, net::request_reply(endpoint, frames, timeout_));
  auto decoded = proto::decode_message(reply);
  if (auto* error = std::get_if<proto::ProtocolError>(&decoded)) {
    return make_error("bad reply from " + endpoint + ": " + error->message);
  }
  proto::Envelope message = std::get<proto::Envelope>(std::move(decoded));
  if (message.type == proto::MessageType::kError) {
    auto error = proto::ErrorBody::from_json(message.body);
    return make_error(error.ok() ? error->message : "lingualinkd at " + endpoint + " answered with an error");
  }
  if (message.type != static_cast<proto::MessageType>(expected)) {
    return make_error("unexpected reply type from " + endpoint);
  }
  return std::move(message.body);
}

Result<Json> ClusterSource::leader_plan(const Json& devices) const {
  const std::string leader = devices.value("leader", "");
  const std::string endpoint = leader.empty() ? "" : device_endpoint(devices, leader);
  if (endpoint.empty()) return make_error("the cluster has no leader yet (no quorum?); try again shortly");
  return ask(endpoint, static_cast<int>(proto::MessageType::kGetPlan), static_cast<int>(proto::MessageType::kPlanInfo));
}

// Replies come from peers: a field of an unexpected type is an error (nlohmann's value() throws), never a crash.
Result<PlanRef> ClusterSource::current_plan() const {
  try {
    return current_plan_unchecked();
  } catch (const Json::exception& e) {
    return make_error(std::string("malformed plan from the cluster: ") + e.what());
  }
}

Result<Json> ClusterSource::topology() const {
  try {
    return topology_unchecked();
  } catch (const Json::exception& e) {
    return make_error(std::string("malformed reply from the cluster: ") + e.what());
  }
}

Result<PlanRef> ClusterSource::current_plan_unchecked() const {
  LL_ASSIGN_OR_RETURN(Json plan, ask(self_, static_cast<int>(proto::MessageType::kGetPlan),
                                     static_cast<int>(proto::MessageType::kPlanInfo)));
  PlanRef ref;
  ref.head = plan.value("head_data_endpoint", "");
  ref.version = plan.value("version", uint64_t{0});
  ref.model = plan.value("model", "");
  if (ref.head.empty() || !ref.model.empty()) return ref;
  // A follower knows where the head is but not the model's name: the leader planned it.
  LL_ASSIGN_OR_RETURN(Json devices, ask(self_, static_cast<int>(proto::MessageType::kGetDevices),
                                        static_cast<int>(proto::MessageType::kDevices)));
  LL_ASSIGN_OR_RETURN(Json full, leader_plan(devices));
  ref.model = full.value("model", "");
  return ref;
}

Result<Json> ClusterSource::topology_unchecked() const {
  LL_ASSIGN_OR_RETURN(Json devices, ask(self_, static_cast<int>(proto::MessageType::kGetDevices),
                                        static_cast<int>(proto::MessageType::kDevices)));
  Json plan = Json::object();
  if (auto p = leader_plan(devices)) plan = std::move(p).value();
  Json out;
  out["self"] = devices.value("self", "");
  out["leader"] = devices.value("leader", "");
  out["term"] = devices.value("term", uint64_t{0});
  out["model"] = plan.value("model", "");
  out["plan_version"] = plan.value("version", uint64_t{0});
  out["objective"] = plan.value("objective", "");
  out["predicted_ms_per_token"] = plan.value("predicted_s_per_token", 0.0) * 1000;
  out["replans"] = plan.value("replans", Json::array());
  // Stage of each device in the plan, with the leader's observation of its step time.
  const Json stages = plan.value("stages", Json::array());
  const Json observed = plan.value("observed_stage_ms", Json::array());
  std::map<std::string, Json> stage_of;
  Json ring = Json::array();
  for (size_t i = 0; i < stages.size(); ++i) {
    const Json& s = stages[i];
    const std::string device = s.value("device", "");
    ring.push_back(device);
    stage_of[device] = {{"index", i},
                        {"first_shard", s.value("first_shard", 0)},
                        {"last_shard", s.value("last_shard", 0)},
                        {"layers", s.value("layers", "")},
                        {"memory_used_bytes", s.value("memory_used_bytes", uint64_t{0})},
                        {"predicted_ms", s.value("compute_s", 0.0) * 1000},
                        {"observed_ms", i < observed.size() && observed[i].is_number() ? observed[i] : Json(nullptr)}};
  }
  out["ring"] = ring;
  // Each device: its profile, its stage, and its own counters (asked of it; a silent device has none).
  Json rows = Json::array();
  std::map<std::string, std::string> name_of_data_endpoint;
  for (const auto& d : devices.value("devices", Json::array())) {
    const Json profile = d.value("profile", Json::object());
    name_of_data_endpoint[profile.value("data_endpoint", "")] = profile.value("name", "");
  }
  for (const auto& d : devices.value("devices", Json::array())) {
    const Json profile = d.value("profile", Json::object());
    const std::string name = profile.value("name", "");
    Json row = {{"name", name},
                {"endpoint", profile.value("endpoint", "")},
                {"role", d.value("role", "")},
                {"state", d.value("state", "")},
                {"memory_budget", profile.value("memory_budget", uint64_t{0})},
                {"memory_free", profile.value("memory_free", uint64_t{0})},
                {"memory_total", profile.value("memory_total", uint64_t{0})},
                {"gflops_decode", profile.value("gflops_decode", 0.0)},
                {"stage", stage_of.count(name) ? stage_of[name] : Json(nullptr)},
                {"counters", nullptr}};
    const std::string state = d.value("state", "");
    if (!stages.empty() && (state == "self" || state == "alive")) {
      auto own = ask(row["endpoint"].get<std::string>(), static_cast<int>(proto::MessageType::kGetPlan),
                     static_cast<int>(proto::MessageType::kPlanInfo));
      if (own && own->contains("stage") && (*own)["stage"].is_object()) {
        Json counters = (*own)["stage"];
        // Bytes sent per link, by the receiving device's name where it is known.
        Json by_device = Json::object();
        const Json sent = counters.value("bytes_sent", Json::object());  // named: items() must not outlive it
        for (const auto& [endpoint, bytes] : sent.items()) {
          const auto it = name_of_data_endpoint.find(endpoint);
          by_device[it != name_of_data_endpoint.end() && !it->second.empty() ? it->second : endpoint] = bytes;
        }
        counters["bytes_sent"] = by_device;
        row["counters"] = counters;
      }
    }
    rows.push_back(row);
  }
  out["devices"] = rows;
  Json links = Json::array();
  for (const auto& l : devices.value("links", Json::array())) {
    links.push_back({{"from", l.value("from", "")},
                     {"to", l.value("to", "")},
                     {"rtt_ms", l.value("rtt_ms", 0.0)},
                     {"bandwidth_mbps", l.value("bandwidth_mbps", 0.0)}});
  }
  out["links"] = links;
  return out;
}

}  // namespace ll::http
