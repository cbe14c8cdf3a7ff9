#include "daemon/config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/log.h"
#include "common/units.h"
#include "http/server.h"
#include "pipeline/link_emulator.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

namespace ll::daemon {

std::string default_name() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) return "device";
  std::string name;
  for (const char* p = host; *p && name.size() < proto::kMaxNameBytes; ++p) {
    const char c = *p;
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    name.push_back(ok ? c : '-');
  }
  return name.empty() ? "device" : name;
}

Status apply_config_file(const std::string& path, DaemonConfig& c, const std::vector<std::string>& keep) {
  std::ifstream in(path);
  if (!in) return make_error("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = proto::parse_control_json(ss.str(), 1 << 20, 8);
  if (!parsed.ok()) return make_error(path + ": " + parsed.error());
  const proto::Json& j = *parsed;
  const std::set<std::string> skip(keep.begin(), keep.end());  // given on the command line: those win
  auto fail = [&](const std::string& key, const std::string& why) {
    return make_error(path + ": '" + key + "': " + why);
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key.rfind("_comment", 0) == 0 || key.rfind("#", 0) == 0) continue;
    if (skip.count(key)) continue;
    auto str = [&](std::string& out) -> Status {
      auto v = proto::get_string(j, key.c_str(), 4096);
      if (!v.ok()) return fail(key, v.error());
      out = *v;
      return Status::Ok();
    };
    auto i64 = [&](int64_t& out) -> Status {
      auto v = proto::get_i64(j, key.c_str());
      if (!v.ok()) return fail(key, v.error());
      out = *v;
      return Status::Ok();
    };
    if (key == "name") {
      LL_TRY_STATUS(str(c.name));
    } else if (key == "cluster") {
      LL_TRY_STATUS(str(c.cluster));
    } else if (key == "listen") {
      LL_TRY_STATUS(str(c.listen));
    } else if (key == "advertise") {
      LL_TRY_STATUS(str(c.advertise));
    } else if (key == "data_dir") {
      LL_TRY_STATUS(str(c.data_dir));
    } else if (key == "log_level") {
      LL_TRY_STATUS(str(c.log_level));
    } else if (key == "memory_budget") {
      if (it.value().is_number_unsigned())
        c.memory_budget = std::to_string(it.value().get<uint64_t>()) + "B";
      else
        LL_TRY_STATUS(str(c.memory_budget));
    } else if (key == "peers") {
      auto arr = proto::get_array(j, "peers", proto::kMaxMembers);
      if (!arr.ok()) return fail(key, arr.error());
      c.peers.clear();
      for (const auto& p : **arr) {
        if (!p.is_string()) return fail(key, "entries must be strings");
        c.peers.push_back(p.get<std::string>());
      }
    } else if (key == "threads") {
      int64_t v = 0;
      LL_TRY_STATUS(i64(v));
      c.threads = static_cast<int>(v);
    } else if (key == "heartbeat_interval_ms") {
      LL_TRY_STATUS(i64(c.heartbeat_interval_ms));
    } else if (key == "heartbeat_timeout_ms") {
      LL_TRY_STATUS(i64(c.heartbeat_timeout_ms));
    } else if (key == "election_timeout_min_ms") {
      LL_TRY_STATUS(i64(c.election_timeout_min_ms));
    } else if (key == "election_timeout_max_ms") {
      LL_TRY_STATUS(i64(c.election_timeout_max_ms));
    } else if (key == "beacon") {
      auto v = proto::get_bool(j, "beacon");
      if (!v.ok()) return fail(key, v.error());
      c.beacon = *v;
    } else if (key == "beacon_port") {
      int64_t v = 0;
      LL_TRY_STATUS(i64(v));
      c.beacon_port = static_cast<int>(v);
    } else if (key == "beacon_interval_ms") {
      LL_TRY_STATUS(i64(c.beacon_interval_ms));
    } else if (key == "profile_seconds") {
      auto v = proto::get_number(j, "profile_seconds");
      if (!v.ok()) return fail(key, v.error());
      c.profile_seconds = *v;
    } else if (key == "probe_bytes") {
      LL_TRY_STATUS(i64(c.probe_bytes));
    } else if (key == "probe_interval_s") {
      LL_TRY_STATUS(i64(c.probe_interval_s));
    } else if (key == "ping_interval_s") {
      LL_TRY_STATUS(i64(c.ping_interval_s));
    } else if (key == "data_listen") {
      LL_TRY_STATUS(str(c.data_listen));
    } else if (key == "model") {
      LL_TRY_STATUS(str(c.model));
    } else if (key == "emulate_speed") {
      auto v = proto::get_number(j, "emulate_speed");
      if (!v.ok()) return fail(key, v.error());
      c.emulate_speed = *v;
    } else if (key == "emulate_egress") {
      LL_TRY_STATUS(str(c.emulate_egress));
    } else if (key == "rebalance_cooldown_s") {
      auto v = proto::get_number(j, "rebalance_cooldown_s");
      if (!v.ok()) return fail(key, v.error());
      c.rebalance_cooldown_s = *v;
    } else if (key == "step_deadline_s") {
      auto v = proto::get_number(j, "step_deadline_s");
      if (!v.ok()) return fail(key, v.error());
      c.step_deadline_s = *v;
    } else if (key == "keys_dir") {
      LL_TRY_STATUS(str(c.keys_dir));
    } else if (key == "insecure") {
      auto v = proto::get_bool(j, "insecure");
      if (!v.ok()) return fail(key, v.error());
      c.insecure = *v;
    } else if (key == "rebalance") {
      auto v = proto::get_bool(j, "rebalance");
      if (!v.ok()) return fail(key, v.error());
      c.rebalance = *v;
    } else if (key == "http") {
      LL_TRY_STATUS(str(c.http));
    } else if (key == "http_token") {
      LL_TRY_STATUS(str(c.http_token));
    } else if (key == "http_threads") {
      LL_TRY_STATUS(i64(c.http_threads));
    } else if (key == "http_max_body_bytes") {
      LL_TRY_STATUS(i64(c.http_max_body_bytes));
    } else
      return fail(key, "unknown option");
  }
  return Status::Ok();
}

std::string default_keys_dir() {
  const char* env = std::getenv("LL_KEYS");
  return env && *env ? env : "/etc/lingualinked/keys";
}

Status validate(DaemonConfig& c) {
  if (c.keys_dir.empty()) c.keys_dir = default_keys_dir();
  if (!(c.step_deadline_s >= 0 && c.step_deadline_s <= 86400))
    return make_error("step_deadline_s must be in [0, 86400]");
  if (!(c.emulate_speed > 0 && c.emulate_speed <= 1)) return make_error("--emulate-speed must be in (0, 1]");
  if (auto egress = pipeline::parse_link_shape(c.emulate_egress); !egress.ok()) {
    return make_error("--emulate-egress: " + egress.error());
  }
  if (!c.data_listen.empty() && (c.data_listen.rfind("tcp://", 0) != 0 || !proto::valid_endpoint(c.data_listen))) {
    return make_error("--data-listen must look like tcp://ADDRESS:PORT: " + c.data_listen);
  }
  if (c.name.empty()) c.name = default_name();
  if (!proto::valid_name(c.name)) return make_error("--name must be 1-64 characters of [A-Za-z0-9._-]: " + c.name);
  if (!proto::valid_name(c.cluster)) return make_error("cluster name must be 1-64 characters of [A-Za-z0-9._-]");
  if (c.listen.rfind("tcp://", 0) != 0 || !proto::valid_endpoint(c.listen)) {
    return make_error("--listen must look like tcp://ADDRESS:PORT: " + c.listen);
  }
  if (!c.advertise.empty() && !proto::valid_endpoint(c.advertise)) return make_error("bad advertise endpoint");
  for (const auto& p : c.peers) {
    if (p.rfind("tcp://", 0) != 0 || !proto::valid_endpoint(p)) return make_error("bad peer endpoint: " + p);
  }
  if (!c.memory_budget.empty()) {
    auto b = parse_byte_size(c.memory_budget);
    if (!b.ok()) return make_error("--memory-budget: " + b.error());
  }
  if (c.threads < 0 || c.threads > 1024) return make_error("--threads must be 0..1024");
  if (!parse_log_level(c.log_level)) return make_error("--log-level must be debug, info, warn or error");
  if (c.heartbeat_interval_ms < 10 || c.heartbeat_interval_ms > 60000)
    return make_error("heartbeat interval out of range");
  if (c.heartbeat_timeout_ms <= c.heartbeat_interval_ms)
    return make_error("heartbeat timeout must exceed the interval");
  if (c.election_timeout_min_ms == 0) c.election_timeout_min_ms = c.heartbeat_interval_ms * 18 / 10;
  if (c.election_timeout_max_ms == 0) c.election_timeout_max_ms = c.heartbeat_interval_ms * 25 / 10;
  if (c.election_timeout_min_ms <= c.heartbeat_interval_ms || c.election_timeout_max_ms < c.election_timeout_min_ms) {
    return make_error("election timeouts must exceed the heartbeat interval, min <= max");
  }
  if (c.beacon_port < 1 || c.beacon_port > 65535) return make_error("beacon port out of range");
  if (c.beacon_interval_ms < 50) return make_error("beacon interval too short");
  if (c.profile_seconds < 0 || c.profile_seconds > 60) return make_error("profile_seconds out of range");
  if (c.probe_bytes < 1 || c.probe_bytes > static_cast<int64_t>(proto::kMaxProbeBytes)) {
    return make_error("probe_bytes must be 1.." + std::to_string(proto::kMaxProbeBytes));
  }
  if (c.probe_interval_s < 1 || c.ping_interval_s < 1) return make_error("probe/ping intervals must be >= 1 s");
  if (!c.http.empty()) {
    LL_ASSIGN_OR_RETURN(http::HttpAddress address, http::parse_http_address(c.http));
    LL_TRY_STATUS(http::check_http_security(address, c.http_token));
  }
  if (c.http_threads < 1 || c.http_threads > 256) return make_error("http_threads must be 1..256");
  if (c.http_max_body_bytes < 1024 || c.http_max_body_bytes > (int64_t{64} << 20)) {
    return make_error("http_max_body_bytes must be 1024..67108864");
  }
  return Status::Ok();
}

cluster::NodeConfig node_config(const DaemonConfig& c) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  cluster::NodeConfig n;
  n.name = c.name;
  n.cluster = c.cluster;
  n.advertise = c.advertise;
  n.seeds = c.peers;
  n.heartbeat_interval = milliseconds(c.heartbeat_interval_ms);
  n.dead_after = milliseconds(c.heartbeat_timeout_ms);
  n.suspect_after = std::min(milliseconds(c.heartbeat_interval_ms * 3 / 2), milliseconds(c.heartbeat_timeout_ms));
  n.election.election_min = milliseconds(c.election_timeout_min_ms);
  n.election.election_max = milliseconds(c.election_timeout_max_ms);
  n.ping_interval = seconds(c.ping_interval_s);
  n.probe_interval = seconds(c.probe_interval_s);
  n.probe_bytes = static_cast<size_t>(c.probe_bytes);
  n.data_dir = c.data_dir;
  return n;
}

}  // namespace ll::daemon
