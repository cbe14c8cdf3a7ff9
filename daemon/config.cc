#include "daemon/config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "daemon/options.h"
#include "http/server.h"
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
  if (auto st = apply_config_json(*parsed, c, keep); !st.ok()) return make_error(path + ": " + st.error());
  return Status::Ok();
}

std::string default_keys_dir() {
  const char* env = std::getenv("LL_KEYS");
  return env && *env ? env : "/etc/lingualinked/keys";
}

Status validate(DaemonConfig& c) {
  LL_TRY_STATUS(check_options(c));
  if (c.keys_dir.empty()) c.keys_dir = default_keys_dir();
  if (c.name.empty()) c.name = default_name();
  // Rules across options; each message names the options it is about.
  if (c.heartbeat_timeout_ms <= c.heartbeat_interval_ms) {
    return make_error("--heartbeat-timeout-ms (" + std::to_string(c.heartbeat_timeout_ms) +
                      ") must exceed --heartbeat-interval-ms (" + std::to_string(c.heartbeat_interval_ms) + ")");
  }
  if (c.election_timeout_min_ms == 0) c.election_timeout_min_ms = c.heartbeat_interval_ms * 18 / 10;
  if (c.election_timeout_max_ms == 0) c.election_timeout_max_ms = c.heartbeat_interval_ms * 25 / 10;
  if (c.election_timeout_min_ms <= c.heartbeat_interval_ms || c.election_timeout_max_ms < c.election_timeout_min_ms) {
    return make_error(
        "config keys election_timeout_min_ms and election_timeout_max_ms must exceed --heartbeat-interval-ms, "
        "min <= max");
  }
  if (c.speculate == "draft" && c.draft_model.empty()) {
    return make_error("--speculate (config key speculate) draft needs --draft-model (config key draft_model)");
  }
  if (!c.http.empty()) {
    LL_ASSIGN_OR_RETURN(http::HttpAddress address, http::parse_http_address(c.http));
    LL_TRY_STATUS(http::check_http_security(address, c.http_token));
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
