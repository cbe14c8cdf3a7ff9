// lingualinkd's configuration: the value type, the JSON config file (config/lingualinkd.example.json documents every
// key), the checks across options, and the node's configuration derived from it. Each option's flag, key, default,
// bounds and help are in its row of daemon/options.cc. Thread-safety: plain value type and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "lingualinked/result.h"

namespace ll::daemon {

// One field per row of the option table (daemon/options.cc), which also holds the defaults.
struct DaemonConfig {
  DaemonConfig();  // every field at its table default

  std::string name;  // "" = the host name, sanitized (validate())
  std::string cluster;
  std::string listen;
  std::string advertise;  // "" = the bound listen endpoint
  std::vector<std::string> peers;
  std::string memory_budget;  // "2GiB"; "" = 70% of available memory
  int threads = 0;            // 0 = all cores (libtorch default)
  std::string data_dir;
  std::string log_level;
  int64_t heartbeat_interval_ms = 0;
  int64_t heartbeat_timeout_ms = 0;
  int64_t election_timeout_min_ms = 0;  // 0 = 1.8 x heartbeat interval
  int64_t election_timeout_max_ms = 0;  // 0 = 2.5 x heartbeat interval
  bool beacon = false;
  int beacon_port = 0;
  int64_t beacon_interval_ms = 0;
  double profile_seconds = 0;  // per measured shape; 0 = skip the compute profile
  int64_t probe_bytes = 0;
  int64_t probe_interval_s = 0;
  int64_t ping_interval_s = 0;
  // Serving (the data plane).
  std::string data_listen;          // "" = the listen address with a free port
  std::string deploy_listen;        // "" = the data endpoint's host with a free port
  std::string model;                // a package the leader loads at start
  int max_sessions = 0;             // generations in flight at once in a plan this leader makes (KV reserved)
  bool choose_head = false;         // plans put the head where the solver finds it best (false: on the leader)
  double emulate_speed = 0;         // test knob: behave as a device this many times as fast
  int prefill_chunk = 0;            // head: tokens per prefill step (engine/prefill_chunks.h), 0 = one step
  std::string speculate;            // head: off | ngram | draft (the draft_model), for generations that do not choose
  int draft_tokens = 0;             // head: the most tokens a speculative step drafts
  std::string draft_model;          // a draft package opened at start; "" = none
  std::string emulate_egress;       // benchmark knob: "20Mbit,5ms" uplink of the data plane (link_emulator.h)
  bool rebalance = false;           // runtime load balancing on the leader
  double rebalance_cooldown_s = 0;  // no re-plan sooner than this after the last one
  double step_deadline_s = 0;       // a compute step longer than this: the device is hung (0 = no watchdog)
  // Security (docs/security.md).
  std::string keys_dir;   // "" = $LL_KEYS, else /etc/lingualinked/keys (validate())
  bool insecure = false;  // no CURVE even when keys exist: explicit only, warned about
  // The HTTP API (docs/http.md): off unless an address is given.
  std::string http;                               // HOST:PORT, e.g. 127.0.0.1:8080; "" = off
  std::string http_token;                         // bearer token; required to bind beyond loopback
  int64_t http_threads = 0;                       // connections served at once
  int64_t http_max_body_bytes = 0;                // larger request bodies: 413
  int64_t http_request_timeout_ms = 0;            // a whole request must arrive within this
  int64_t http_max_client_connections = 0;        // per client address; 0 = half of http_threads
  std::vector<std::string> http_allowed_hosts;    // Host names served besides our own (docs/security.md)
  std::vector<std::string> http_allowed_origins;  // cross-origin callers allowed
};

// The keys folder a daemon or llctl uses when none is given: $LL_KEYS, else /etc/lingualinked/keys.
[[nodiscard]] std::string default_keys_dir();

// Applies the keys of a JSON config file onto `config`, except those in `keep` (given as flags, which win);
// unknown keys and mistyped values are errors naming the file and the key.
[[nodiscard]] Status apply_config_file(const std::string& path, DaemonConfig& config,
                                       const std::vector<std::string>& keep);

// Checks every option (options.cc) and the rules across options, and fills derived defaults (name, keys folder,
// election timeouts). Errors are one line naming the flag and config key.
[[nodiscard]] Status validate(DaemonConfig& config);

// The node's configuration (timings, seeds) from the daemon's.
[[nodiscard]] cluster::NodeConfig node_config(const DaemonConfig& config);

[[nodiscard]] std::string default_name();

}  // namespace ll::daemon
