// DEVICES.json parsing and plan output. Stateless; thread-safe.
#include "placement/plan_io.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "placement/cost_model.h"

namespace ll::placement {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxClusterBytes = 1 << 20;
constexpr size_t kMaxDevices = 64;

Result<double> number(const json& o, const char* key, const std::string& where, bool positive) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return make_error(where + "." + key + ": missing or not a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || (positive && v == 0)) {
    return make_error(where + "." + key + (positive ? ": must be > 0" : ": must be >= 0"));
  }
  return v;
}

Result<std::string> text(const json& o, const char* key, const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string() || it->get<std::string>().empty()) {
    return make_error(where + "." + key + ": missing or not a non-empty string");
  }
  return it->get<std::string>();
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<PlacementProblem> parse_cluster_json(std::string_view input) {
  if (input.size() > kMaxClusterBytes) return make_error("devices file: larger than 1 MiB");
  json root = json::parse(input.begin(), input.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return make_error("devices file: not a JSON object");
  auto devs = root.find("devices");
  if (devs == root.end() || !devs->is_array() || devs->empty()) {
    return make_error("devices file: \"devices\" missing, not an array, or empty");
  }
  if (devs->size() > kMaxDevices) return make_error("devices file: more than 64 devices");
  PlacementProblem p;
  std::map<std::string, int> index;
  int heads = 0;
  for (size_t i = 0; i < devs->size(); ++i) {
    const json& o = (*devs)[i];
    const std::string w = "devices[" + std::to_string(i) + "]";
    if (!o.is_object()) return make_error(w + ": not an object");
    Device d;
    LL_ASSIGN_OR_RETURN(d.name, text(o, "name", w));
    if (index.count(d.name)) return make_error(w + ".name: duplicate device '" + d.name + "'");
    LL_ASSIGN_OR_RETURN(double memory, number(o, "memory_bytes", w, false));
    if (memory > 1e18) return make_error(w + ".memory_bytes: too large");
    d.memory_bytes = static_cast<uint64_t>(memory);
    LL_ASSIGN_OR_RETURN(d.flops, number(o, "flops", w, true));
    auto head = o.find("head");
    if (head != o.end()) {
      if (!head->is_boolean()) return make_error(w + ".head: not a boolean");
      if (head->get<bool>()) {
        p.head = static_cast<int>(i);
        ++heads;
      }
    }
    auto secs = o.find("shard_seconds");
    if (secs != o.end()) {
      if (!secs->is_array()) return make_error(w + ".shard_seconds: not an array");
      for (const auto& s : *secs) {
        if (!s.is_number() || !std::isfinite(s.get<double>())) return make_error(w + ".shard_seconds: not numbers");
        d.shard_seconds.push_back(s.get<double>());  // negative: not measured, use FLOP/s
      }
    }
    index[d.name] = static_cast<int>(i);
    p.devices.push_back(std::move(d));
  }
  if (heads > 1) return make_error("devices file: more than one device has \"head\": true");
  const size_t nd = p.devices.size();
  p.links.assign(nd, std::vector<Link>(nd));
  auto links = root.find("links");
  if (links != root.end()) {
    if (!links->is_array()) return make_error("devices file: \"links\" is not an array");
    for (size_t i = 0; i < links->size(); ++i) {
      const json& o = (*links)[i];
      const std::string w = "links[" + std::to_string(i) + "]";
      if (!o.is_object()) return make_error(w + ": not an object");
      LL_ASSIGN_OR_RETURN(std::string from, text(o, "from", w));
      LL_ASSIGN_OR_RETURN(std::string to, text(o, "to", w));
      if (!index.count(from)) return make_error(w + ".from: unknown device '" + from + "'");
      if (!index.count(to)) return make_error(w + ".to: unknown device '" + to + "'");
      if (from == to) return make_error(w + ": a link from a device to itself");
      LL_ASSIGN_OR_RETURN(double bandwidth, number(o, "bandwidth_bytes_per_s", w, true));
      LL_ASSIGN_OR_RETURN(double latency, number(o, "latency_s", w, false));
      p.set_link(index[from], index[to], bandwidth, latency);
    }
  }
  return p;
}

Result<PlacementProblem> with_model(PlacementProblem p, const Manifest& manifest, uint64_t context, uint64_t sessions) {
  p.shards = manifest.shards;
  p.context = context > 0 ? context : static_cast<uint64_t>(manifest.hparams.context_length);
  p.sessions = sessions;
  LL_TRY_STATUS(validate_problem(p));
  return p;
}

std::string describe_shards(const PlacementProblem& p, int first, int last) {
  std::string out;
  int run_first_layer = -1, run_last_layer = -1;
  auto flush = [&] {
    if (run_first_layer < 0) return;
    if (!out.empty()) out += "+";
    out += "L" + std::to_string(run_first_layer);
    if (run_last_layer != run_first_layer) out += "-L" + std::to_string(run_last_layer);
    run_first_layer = -1;
  };
  for (int i = first; i <= last; ++i) {
    const ShardInfo& s = p.shards[i];
    if (s.kind == ShardKind::kBlock && s.layer >= 0) {
      if (run_first_layer < 0) run_first_layer = s.layer;
      run_last_layer = s.layer;
      continue;
    }
    flush();
    if (!out.empty()) out += "+";
    out += shard_kind_name(s.kind);
  }
  flush();
  return out;
}

json plan_to_json(const PlacementProblem& p, const Plan& plan) {
  json j;
  j["objective"] = objective_name(plan.objective);
  j["predicted_s_per_token"] = plan.objective_value();
  j["one_stream_s_per_token"] = plan.latency_s;
  j["pipeline_s_per_token"] = plan.bottleneck_s;
  j["one_stream_tokens_per_s"] = plan.latency_s > 0 ? 1.0 / plan.latency_s : 0.0;
  j["pipeline_tokens_per_s"] = plan.bottleneck_s > 0 ? 1.0 / plan.bottleneck_s : 0.0;
  j["solver"] = plan.solver;
  j["status"] = plan.status;
  j["optimal"] = plan.optimal;
  j["solve_seconds"] = plan.solve_seconds;
  j["cost_source"] = plan.cost_source;
  j["context"] = p.context;
  j["max_sessions"] = p.sessions;
  j["hop_overhead_s"] = p.hop_overhead_s;
  j["step_overhead_s"] = p.step_overhead_s;
  if (!plan.note.empty()) j["note"] = plan.note;
  j["stages"] = json::array();
  for (const auto& s : plan.stages) {
    json st;
    st["device"] = p.devices[s.device].name;
    st["first_shard"] = s.first_shard;
    st["last_shard"] = s.last_shard;
    st["layers"] = describe_shards(p, s.first_shard, s.last_shard);
    st["compute_s"] = s.compute_s;
    st["transfer_s"] = s.transfer_s;
    st["overhead_s"] = s.overhead_s;
    st["time_s"] = s.time_s();
    st["bytes_sent_per_token"] = s.bytes_sent_per_token;
    st["next_device"] = s.next_device >= 0 ? json(p.devices[s.next_device].name) : json(nullptr);
    st["memory_used_bytes"] = s.memory_used_bytes;
    st["memory_budget_bytes"] = p.devices[s.device].memory_bytes;
    st["backup_shards"] = s.backup_shards;
    st["backup_bytes"] = s.backup_bytes;
    j["stages"].push_back(std::move(st));
  }
  return j;
}

std::string plan_to_dot(const PlacementProblem& p, const Plan& plan) {
  std::ostringstream out;
  char buf[256];
  out << "digraph ring {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n";
  std::snprintf(buf, sizeof buf, "%s: %.3f ms/token one stream, %.3f ms/token pipelined",
                objective_name(plan.objective), plan.latency_s * 1e3, plan.bottleneck_s * 1e3);
  out << "  label=" << quote(buf) << ";\n";
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const Stage& s = plan.stages[i];
    std::snprintf(buf, sizeof buf, "\\nshards %d-%d (%s)\\n%.3f ms", s.first_shard, s.last_shard,
                  describe_shards(p, s.first_shard, s.last_shard).c_str(), s.time_s() * 1e3);
    const std::string name = quote(p.devices[s.device].name + (s.device == p.head ? " (head)" : ""));
    out << "  s" << i << " [label=" << name.substr(0, name.size() - 1) << buf << "\"];\n";
  }
  for (size_t i = 0; plan.stages.size() > 1 && i < plan.stages.size(); ++i) {
    const Stage& s = plan.stages[i];
    const size_t next = i + 1 < plan.stages.size() ? i + 1 : 0;
    std::snprintf(buf, sizeof buf, "%llu B/token, %.3f ms", static_cast<unsigned long long>(s.bytes_sent_per_token),
                  s.transfer_s * 1e3);
    out << "  s" << i << " -> s" << next << " [label=" << quote(buf) << "];\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace ll::placement
