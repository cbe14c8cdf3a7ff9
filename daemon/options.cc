#include "daemon/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "common/log.h"
#include "common/units.h"
#include "engine/prefill_chunks.h"
#include "engine/speculation.h"
#include "http/edge.h"
#include "http/server.h"
#include "pipeline/link_emulator.h"
#include "proto/limits.h"

namespace ll::daemon {
namespace {

using Validator = std::function<Status(const std::string&)>;
constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// An integer field (int or int64_t) in [lo, hi].
template <typename T>
Option integer(const char* flag, const char* key, T DaemonConfig::*field, T def, int64_t lo, int64_t hi,
               const char* help) {
  Option o;
  o.flag = flag;
  o.key = key;
  o.type = "integer";
  o.help = help;
  o.default_text = std::to_string(def);
  o.set_default = [=](DaemonConfig& c) { c.*field = def; };
  if (*flag) {
    o.add_flag = [=](CLI::App& app, DaemonConfig& c, const std::string& line) { app.add_option(flag, c.*field, line); };
  }
  o.read_json = [=](const proto::Json& j, DaemonConfig& c) -> Status {
    LL_ASSIGN_OR_RETURN(int64_t v, proto::get_i64(j, key));
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
      return make_error("out of range: " + std::to_string(v));
    }
    c.*field = static_cast<T>(v);
    return Status::Ok();
  };
  o.check = [=](const DaemonConfig& c) -> Status {
    const int64_t v = c.*field;
    if (v >= lo && v <= hi) return Status::Ok();
    if (hi == kNoLimit) return make_error("must be >= " + std::to_string(lo) + ", got " + std::to_string(v));
    return make_error("must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(v));
  };
  o.show = [=](const DaemonConfig& c) { return std::to_string(c.*field); };
  return o;
}

// A number field in [lo, hi], or (lo, hi] when lo_open.
Option number(const char* flag, const char* key, double DaemonConfig::*field, double def, double lo, double hi,
              bool lo_open, const char* help) {
  Option o;
  o.flag = flag;
  o.key = key;
  o.type = "number";
  o.help = help;
  o.default_text = number_text(def);
  o.set_default = [=](DaemonConfig& c) { c.*field = def; };
  if (*flag) {
    o.add_flag = [=](CLI::App& app, DaemonConfig& c, const std::string& line) { app.add_option(flag, c.*field, line); };
  }
  o.read_json = [=](const proto::Json& j, DaemonConfig& c) -> Status {
    LL_ASSIGN_OR_RETURN(c.*field, proto::get_number(j, key));
    return Status::Ok();
  };
  o.check = [=](const DaemonConfig& c) -> Status {
    const double v = c.*field;
    if ((lo_open ? v > lo : v >= lo) && v <= hi) return Status::Ok();  // NaN fails both
    return make_error(std::string("must be in ") + (lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) +
                      "], got " + number_text(v));
  };
  o.show = [=](const DaemonConfig& c) { return number_text(c.*field); };
  return o;
}

// A string field; `valid` says what is wrong with a value (the empty string included, when it matters).
Option text(const char* flag, const char* key, std::string DaemonConfig::*field, const char* def, Validator valid,
            const char* help) {
  Option o;
  o.flag = flag;
  o.key = key;
  o.type = "string";
  o.help = help;
  o.default_text = def;
  o.set_default = [=](DaemonConfig& c) { c.*field = def; };
  if (*flag) {
    o.add_flag = [=](CLI::App& app, DaemonConfig& c, const std::string& line) { app.add_option(flag, c.*field, line); };
  }
  o.read_json = [=](const proto::Json& j, DaemonConfig& c) -> Status {
    LL_ASSIGN_OR_RETURN(c.*field, proto::get_string(j, key, 4096));
    return Status::Ok();
  };
  o.check = [=](const DaemonConfig& c) -> Status { return valid ? valid(c.*field) : Status::Ok(); };
  o.show = [=](const DaemonConfig& c) { return c.*field; };
  return o;
}

// A bool: the flag turns it on, the negation (if any) off.
Option boolean(const char* flag, const char* negation, const char* key, bool DaemonConfig::*field, bool def,
               const char* help) {
  Option o;
  o.flag = flag;
  o.negation = negation;
  o.key = key;
  o.type = "bool";
  o.help = help;
  o.default_text = def ? "on" : "off";
  o.set_default = [=](DaemonConfig& c) { c.*field = def; };
  o.add_flag = [=](CLI::App& app, DaemonConfig& c, const std::string& line) {
    app.add_flag(*negation ? std::string(flag) + ",!" + negation : std::string(flag), c.*field, line);
  };
  o.read_json = [=](const proto::Json& j, DaemonConfig& c) -> Status {
    LL_ASSIGN_OR_RETURN(c.*field, proto::get_bool(j, key));
    return Status::Ok();
  };
  o.check = [](const DaemonConfig&) { return Status::Ok(); };
  o.show = [=](const DaemonConfig& c) { return std::string(c.*field ? "true" : "false"); };
  return o;
}

// A list of endpoints: comma-separated on the command line, an array of strings in the file.
Option endpoint_list(const char* flag, const char* key, std::vector<std::string> DaemonConfig::*field,
                     const char* help) {
  Option o;
  o.flag = flag;
  o.key = key;
  o.type = "list";
  o.help = help;
  o.set_default = [=](DaemonConfig& c) { (c.*field).clear(); };
  o.add_flag = [=](CLI::App& app, DaemonConfig& c, const std::string& line) {
    app.add_option_function<std::string>(
        flag, [&c, field](const std::string& list) { c.*field = split_commas(list); }, line);
  };
  o.read_json = [=](const proto::Json& j, DaemonConfig& c) -> Status {
    LL_ASSIGN_OR_RETURN(const proto::Json* array, proto::get_array(j, key, proto::kMaxMembers));
    std::vector<std::string> out;
    for (const auto& item : *array) {
      if (!item.is_string()) return make_error("entries must be strings");
      out.push_back(item.get<std::string>());
    }
    c.*field = std::move(out);
    return Status::Ok();
  };
  o.check = [=](const DaemonConfig& c) -> Status {
    for (const auto& p : c.*field) {
      if (p.rfind("tcp://", 0) != 0 || !proto::valid_endpoint(p)) return make_error("bad endpoint: " + p);
    }
    return Status::Ok();
  };
  o.show = [=](const DaemonConfig& c) {
    std::string out;
    for (const auto& p : c.*field) out += (out.empty() ? "" : ",") + p;
    return out;
  };
  return o;
}

// Edits (insert, delete, replace) between two keys: a typo's nearest key is suggested.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t replaced = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({replaced, row[j] + 1, row[j - 1] + 1});
    }
  }
  return row[b.size()];
}

Option with_default_text(Option o, const char* shown) {
  o.default_text = shown;
  return o;
}

// --- validators -----------------------------------------------------------------------------------------------

Status tcp_endpoint(const std::string& v) {
  if (v.rfind("tcp://", 0) == 0 && proto::valid_endpoint(v)) return Status::Ok();
  return make_error("must look like tcp://ADDRESS:PORT, got '" + v + "'");
}
Status empty_or_tcp_endpoint(const std::string& v) { return v.empty() ? Status::Ok() : tcp_endpoint(v); }
Status empty_or_endpoint(const std::string& v) {
  if (v.empty() || proto::valid_endpoint(v)) return Status::Ok();
  return make_error("not an endpoint: '" + v + "'");
}
Status empty_or_name(const std::string& v) {
  if (v.empty() || proto::valid_name(v)) return Status::Ok();  // empty: the host name (validate())
  return make_error("must be 1-64 characters of [A-Za-z0-9._-], got '" + v + "'");
}
Status name(const std::string& v) {
  if (proto::valid_name(v)) return Status::Ok();
  return make_error("must be 1-64 characters of [A-Za-z0-9._-], got '" + v + "'");
}
Status empty_or_byte_size(const std::string& v) {
  if (v.empty()) return Status::Ok();
  auto b = parse_byte_size(v);
  return b.ok() ? Status::Ok() : make_error(b.error());
}
Status log_level(const std::string& v) {
  return parse_log_level(v) ? Status::Ok() : make_error("must be debug, info, warn or error, got '" + v + "'");
}
Status link_shape(const std::string& v) {
  auto shape = pipeline::parse_link_shape(v);
  return shape.ok() ? Status::Ok() : make_error(shape.error());
}
Status speculate_mode(const std::string& v) {
  if (v == "off" || v == "ngram" || v == "draft") return Status::Ok();
  return make_error("must be off, ngram or draft (the --draft-model), got '" + v + "'");
}
Status empty_or_http_address(const std::string& v) {
  if (v.empty()) return Status::Ok();
  auto address = http::parse_http_address(v);
  return address.ok() ? Status::Ok() : make_error(address.error());
}

std::vector<Option> build_table() {
  using C = DaemonConfig;
  std::vector<Option> t;
  // Identity and addresses.
  t.push_back(with_default_text(text("--name", "name", &C::name, "", empty_or_name, "device name"), "the host name"));
  t.push_back(
      text("--listen", "listen", &C::listen, "tcp://127.0.0.1:7700", tcp_endpoint, "ZeroMQ endpoint to listen on"));
  t.push_back(with_default_text(
      text("--advertise", "advertise", &C::advertise, "", empty_or_endpoint, "endpoint peers should dial"),
      "the listen endpoint"));
  t.push_back(endpoint_list("--peers", "peers", &C::peers, "seed peers, comma-separated tcp://HOST:PORT"));
  t.push_back(text("--cluster", "cluster", &C::cluster, "home", name, "cluster name"));
  Option budget = text("--memory-budget", "memory_budget", &C::memory_budget, "", empty_or_byte_size,
                       "memory for shards and KV cache, e.g. 2GiB");
  budget.default_text = "70% of available";
  budget.read_json = [](const proto::Json& j, DaemonConfig& c) -> Status {  // a plain byte count is welcome too
    if (j.at("memory_budget").is_number_unsigned()) {
      c.memory_budget = std::to_string(j.at("memory_budget").get<uint64_t>()) + "B";
      return Status::Ok();
    }
    LL_ASSIGN_OR_RETURN(c.memory_budget, proto::get_string(j, "memory_budget", 4096));
    return Status::Ok();
  };
  t.push_back(std::move(budget));
  t.push_back(
      with_default_text(integer("--threads", "threads", &C::threads, 0, 0, 1024, "compute threads"), "0 = all cores"));
  t.push_back(with_default_text(text("--data-dir", "data_dir", &C::data_dir, "", nullptr,
                                     "data folder: election term and vote, shard cache, lock (one daemon per "
                                     "folder); 0700, owned by this user"),
                                "/var/lib/lingualinked/NAME as root, else $XDG_STATE_HOME/lingualinked/NAME"));
  t.push_back(text("--log-level", "log_level", &C::log_level, "info", log_level, "debug, info, warn or error"));
  // Cluster timing. The election timeouts, beacon interval and link measurement are config-file only, as they
  // always were: tuning knobs that should be the same on every device.
  t.push_back(integer<int64_t>("--heartbeat-interval-ms", "heartbeat_interval_ms", &C::heartbeat_interval_ms, 1000, 10,
                               60000, "heartbeat interval"));
  t.push_back(integer<int64_t>("--heartbeat-timeout-ms", "heartbeat_timeout_ms", &C::heartbeat_timeout_ms, 3000, 11,
                               600000, "a silent peer is dead after this (must exceed the interval)"));
  t.push_back(with_default_text(integer<int64_t>("", "election_timeout_min_ms", &C::election_timeout_min_ms, 0, 0,
                                                 600000, "shortest randomized election timeout"),
                                "0 = 1.8 x the heartbeat interval"));
  t.push_back(with_default_text(integer<int64_t>("", "election_timeout_max_ms", &C::election_timeout_max_ms, 0, 0,
                                                 600000, "longest randomized election timeout"),
                                "0 = 2.5 x the heartbeat interval"));
  t.push_back(boolean("--beacon", "--no-beacon", "beacon", &C::beacon, true, "UDP beacon discovery"));
  t.push_back(integer("--beacon-port", "beacon_port", &C::beacon_port, 7701, 1, 65535, "UDP port of beacons"));
  t.push_back(integer<int64_t>("", "beacon_interval_ms", &C::beacon_interval_ms, 1000, 50, 3600000,
                               "a beacon is broadcast this often"));
  t.push_back(number("--profile-seconds", "profile_seconds", &C::profile_seconds, 0.3, 0, 60, false,
                     "time per compute-profile shape; 0 skips"));
  t.push_back(integer<int64_t>("", "probe_bytes", &C::probe_bytes, 256 * 1024, 1,
                               static_cast<int64_t>(proto::kMaxProbeBytes), "payload of a bandwidth probe"));
  t.push_back(integer<int64_t>("", "probe_interval_s", &C::probe_interval_s, 30, 1, 86400,
                               "a bandwidth probe to each peer this often"));
  t.push_back(integer<int64_t>("", "ping_interval_s", &C::ping_interval_s, 5, 1, 86400,
                               "a round-trip ping to each peer this often"));
  // Serving (the data plane).
  t.push_back(with_default_text(text("--data-listen", "data_listen", &C::data_listen, "", empty_or_tcp_endpoint,
                                     "data-plane endpoint (activations)"),
                                "the listen address, a free port"));
  t.push_back(with_default_text(text("--deploy-listen", "deploy_listen", &C::deploy_listen, "", empty_or_tcp_endpoint,
                                     "deploy endpoint (plans, model files, load progress)"),
                                "the data endpoint's host, a free port"));
  t.push_back(
      text("--model", "model", &C::model, "", nullptr, "model package the leader loads at start (like llctl load)"));
  t.push_back(integer("--max-sessions", "max_sessions", &C::max_sessions, 1, 1, 256,
                      "generations in flight at once in the plans this device makes as leader; each stage reserves "
                      "KV cache for all of them, and more are answered busy (llctl load --max-sessions overrides)"));
  t.push_back(boolean("--choose-head", "--head-on-leader", "choose_head", &C::choose_head, false,
                      "the plans this device makes as leader put the head (tokenizer, sampling, the first layers) on "
                      "the device the solver finds best, like every other stage; --head-on-leader keeps it on the "
                      "leader"));
  {
    Option chunk =
        integer("--prefill-chunk", "prefill_chunk", &C::prefill_chunk, kDefaultPrefillChunk, 0, kMaxPrefillChunk,
                "tokens per prefill step when this device is the head: stages work on a long prompt's "
                "chunks at once, between other sessions' decode steps; 0 = the prompt in one step. "
                "llctl generate --local must use the same value to give the same tokens");
    chunk.check = [](const DaemonConfig& c) { return validate_prefill_chunk(c.prefill_chunk); };
    t.push_back(std::move(chunk));
  }
  // Speculative decoding when this device is the head (docs/pipeline.md, "Speculative decoding").
  t.push_back(text("--speculate", "speculate", &C::speculate, kDefaultSpeculateMode, speculate_mode,
                   "speculative decoding for generations that do not choose, when this device is the head: off, "
                   "ngram (drafts from the session's own text) or draft (the --draft-model); the output is the same"));
  t.push_back(
      integer("--draft-tokens", "draft_tokens", &C::draft_tokens, kDefaultDraftTokens, 0, kMaxDraftTokens,
              "the most tokens a speculative step drafts (fewer when a session's drafts are rejected); 0 = off"));
  t.push_back(with_default_text(
      text("--draft-model", "draft_model", &C::draft_model, "", nullptr,
           "draft model package (scripts/export-model --draft-layers) opened at start; generations asking for "
           "draft:<its name> use it"),
      "none"));
  t.push_back(number("--emulate-speed", "emulate_speed", &C::emulate_speed, 1, 0, 1, true,
                     "test knob: behave as a device this many times as fast, in (0, 1]"));
  t.push_back(with_default_text(
      text("--http", "http", &C::http, "", empty_or_http_address,
           "serve the OpenAI-compatible HTTP API, metrics and the topology page on HOST:PORT, e.g. 127.0.0.1:8080 "
           "(beyond loopback only with http_token in the config file)"),
      "off"));
  t.push_back(text("--emulate-egress", "emulate_egress", &C::emulate_egress, "", link_shape,
                   "benchmark knob: send activations through an emulated uplink BANDWIDTH,LATENCY, e.g. 20Mbit,5ms"));
  t.push_back(boolean("--rebalance", "--no-rebalance", "rebalance", &C::rebalance, true,
                      "runtime load balancing on the leader"));
  t.push_back(number("--rebalance-cooldown", "rebalance_cooldown_s", &C::rebalance_cooldown_s, 5, 0, 86400, false,
                     "seconds after a plan before load balancing may re-plan"));
  t.push_back(number("--step-deadline", "step_deadline_s", &C::step_deadline_s, 60, 0, 86400, false,
                     "seconds one compute step may take before the device counts as hung and leaves (0 = off)"));
  // Security (docs/security.md).
  t.push_back(with_default_text(text("--keys", "keys_dir", &C::keys_dir, "", nullptr, "CURVE keys folder"),
                                "$LL_KEYS, else /etc/lingualinked/keys"));
  t.push_back(boolean("--insecure", "", "insecure", &C::insecure, false,
                      "run without CURVE authentication and encryption (warned about)"));
  // The HTTP API (docs/http.md). The token is config-file only: a command line is visible to every local user.
  t.push_back(text("", "http_token", &C::http_token, "", nullptr, "bearer token of the HTTP API"));
  t.push_back(integer<int64_t>("", "http_threads", &C::http_threads, 8, 1, 256, "HTTP connections served at once"));
  t.push_back(integer<int64_t>("", "http_max_body_bytes", &C::http_max_body_bytes, 1 << 20, 1024, int64_t{64} << 20,
                               "larger HTTP request bodies are refused with 413"));
  t.push_back(integer<int64_t>("", "http_request_timeout_ms", &C::http_request_timeout_ms, 10000, 100, 600000,
                               "a whole HTTP request (head and body) must arrive within this"));
  t.push_back(with_default_text(integer<int64_t>("", "http_max_client_connections", &C::http_max_client_connections, 0,
                                                 0, 256, "HTTP connections open at once from one client address"),
                                "0 = half of http_threads"));
  for (auto [key, field, check, help] :
       {std::tuple{"http_allowed_hosts", &C::http_allowed_hosts, &http::check_allowed_host,
                   "Host names served besides the bound address (NAME, NAME:PORT or *)"},
        std::tuple{"http_allowed_origins", &C::http_allowed_origins, &http::check_allowed_origin,
                   "cross-origin callers allowed (http(s)://HOST[:PORT] or *)"}}) {
    Option o = endpoint_list("", key, field, help);
    o.add_flag = nullptr;  // config file only, like the other HTTP settings
    o.check = [field = field, check = check](const DaemonConfig& c) -> Status {
      for (const auto& entry : c.*field) LL_TRY_STATUS(check(entry));
      return Status::Ok();
    };
    t.push_back(std::move(o));
  }
  return t;
}

}  // namespace

DaemonConfig::DaemonConfig() {
  for (const auto& o : options()) o.set_default(*this);
}

std::string Option::name() const { return flag.empty() ? "config key " + key : flag + " (config key " + key + ")"; }

std::string Option::help_line() const {
  return default_text.empty() ? help : help + " (default: " + default_text + ")";
}

const std::vector<Option>& options() {
  static const std::vector<Option> table = build_table();
  return table;
}

const Option* find_option(const std::string& key) {
  for (const auto& o : options()) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

void add_flags(CLI::App& app, DaemonConfig& config) {
  std::string file_only;
  for (const auto& o : options()) {
    if (o.add_flag) {
      o.add_flag(app, config, o.help_line());
    } else {
      file_only += "\n  " + o.key + ": " + o.help_line();
    }
  }
  app.footer("Config-file only keys (--config FILE; config/lingualinkd.example.json explains every key):" + file_only);
}

std::vector<std::string> keys_given_as_flags(const CLI::App& app) {
  std::vector<std::string> keys;
  for (const auto& o : options()) {
    if (o.add_flag && app.count(o.flag) > 0) keys.push_back(o.key);
  }
  return keys;
}

namespace {
std::string suggestion(const std::string& unknown) {
  const Option* nearest = nullptr;
  size_t best = 3;  // more edits than this is not a typo
  for (const auto& o : options()) {
    const size_t d = edit_distance(unknown, o.key);
    if (d < best) {
      best = d;
      nearest = &o;
    }
  }
  return nearest != nullptr ? " (did you mean " + nearest->key + "?)" : " (lingualinkd --help lists every key)";
}
}  // namespace

Status apply_config_json(const proto::Json& j, DaemonConfig& config, const std::vector<std::string>& keep) {
  if (!j.is_object()) return make_error("the config file must hold one JSON object");
  const std::set<std::string> skip(keep.begin(), keep.end());
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key.rfind("_comment", 0) == 0 || key.rfind("#", 0) == 0) continue;
    const Option* o = find_option(key);
    if (o == nullptr) return make_error("'" + key + "': unknown key" + suggestion(key));
    if (skip.count(key)) continue;  // given on the command line: the flag wins
    if (auto st = o->read_json(j, config); !st.ok()) return make_error("'" + key + "': " + st.error());
  }
  return Status::Ok();
}

Status check_options(const DaemonConfig& config) {
  for (const auto& o : options()) {
    if (auto st = o.check(config); !st.ok()) return make_error(o.name() + ": " + st.error());
  }
  return Status::Ok();
}

}  // namespace ll::daemon
