// lingualinkd's option table (daemon/options.cc): every row reachable as its flag and as its config key, flags win
// over the file, bad values refused naming the option, and the example config accepted as it is.
#include <CLI/CLI.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "daemon/config.h"
#include "daemon/options.h"
#include "engine/speculation.h"

using ll::daemon::DaemonConfig;
using ll::daemon::Option;
using ll::daemon::options;
using Json = ll::proto::Json;

namespace {

// A valid value for every key, unlike its default. A new option needs one here (the first test says so).
const std::map<std::string, Json> kSamples = {
    {"name", "board7"},
    {"listen", "tcp://127.0.0.1:7800"},
    {"advertise", "tcp://10.0.0.7:7800"},
    {"peers", Json::array({"tcp://10.0.0.8:7700", "tcp://10.0.0.9:7700"})},
    {"cluster", "garage"},
    {"memory_budget", "3GiB"},
    {"threads", 3},
    {"data_dir", "/var/lib/ll-test"},
    {"log_level", "debug"},
    {"heartbeat_interval_ms", 700},
    {"heartbeat_timeout_ms", 4000},
    {"election_timeout_min_ms", 1500},
    {"election_timeout_max_ms", 2500},
    {"beacon", false},
    {"beacon_port", 7777},
    {"beacon_interval_ms", 2000},
    {"profile_seconds", 0.5},
    {"probe_bytes", 4096},
    {"probe_interval_s", 60},
    {"ping_interval_s", 9},
    {"data_listen", "tcp://127.0.0.1:7900"},
    {"deploy_listen", "tcp://127.0.0.1:7901"},
    {"model", "/models/stories260K"},
    {"max_sessions", 6},
    {"choose_head", true},
    {"emulate_speed", 0.25},
    {"prefill_chunk", 96},
    {"speculate", "off"},
    {"draft_tokens", 4},
    {"draft_model", "/models/stories260K-exit2"},
    {"emulate_egress", "20Mbit,5ms"},
    {"rebalance", false},
    {"rebalance_cooldown_s", 7.5},
    {"step_deadline_s", 30},
    {"keys_dir", "/tmp/ll-keys"},
    {"insecure", true},
    {"http", "127.0.0.1:8088"},
    {"http_token", "0123456789abcdef0123"},
    {"http_threads", 4},
    {"http_max_body_bytes", 4096},
    {"http_request_timeout_ms", 2500},
    {"http_max_client_connections", 2},
    {"http_allowed_hosts", Json::array({"box.lan", "proxy.lan:443"})},
    {"http_allowed_origins", Json::array({"https://app.example"})},
};

// The command-line words that give `sample` to the option.
std::vector<std::string> flag_words(const Option& o, const Json& sample) {
  if (sample.is_boolean()) return {sample.get<bool>() ? o.flag : o.negation};
  if (sample.is_string()) return {o.flag, sample.get<std::string>()};
  if (sample.is_array()) {
    std::string list;
    for (const auto& item : sample) list += (list.empty() ? "" : ",") + item.get<std::string>();
    return {o.flag, list};
  }
  return {o.flag, sample.dump()};
}

// Parses the words as lingualinkd's command line would; the parse error's text, or "" when it parsed.
std::string parse_flags(DaemonConfig& config, std::vector<std::string> words,
                        std::vector<std::string>* given = nullptr) {
  CLI::App app;
  ll::daemon::add_flags(app, config);
  std::vector<std::string> reversed(words.rbegin(), words.rend());  // CLI11 takes the arguments last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  if (given != nullptr) *given = ll::daemon::keys_given_as_flags(app);
  return "";
}

ll::Status apply_json(DaemonConfig& config, const Json& object, const std::vector<std::string>& keep = {}) {
  return ll::daemon::apply_config_json(object, config, keep);
}

Json one_key(const std::string& key, const Json& value) {
  Json object = Json::object();
  object[key] = value;
  return object;
}

std::string source_dir() {
  const char* dir = std::getenv("LL_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

}  // namespace

TEST_CASE("NewOptionWithoutATestSampleIsNoticed", "[options]") {
  for (const auto& o : options()) {
    INFO(o.key);
    CHECK(kSamples.count(o.key) == 1);
  }
  CHECK(kSamples.size() == options().size());
}

TEST_CASE("TwoRowsSharingAFlagOrKeyAreRefused", "[options]") {
  std::set<std::string> flags, keys;
  for (const auto& o : options()) {
    INFO(o.key);
    CHECK(keys.insert(o.key).second);
    if (!o.flag.empty()) CHECK(flags.insert(o.flag).second);
    if (!o.negation.empty()) CHECK(flags.insert(o.negation).second);
    CHECK(flags.count("--config") == 0);  // main() adds --config, --init and --version itself
    CHECK(flags.count("--init") == 0);
  }
}

TEST_CASE("FlagThatDoesNotReachItsFieldIsCaught", "[options]") {
  const DaemonConfig defaults;
  for (const auto& o : options()) {
    if (o.flag.empty()) continue;
    INFO(o.flag);
    const Json& sample = kSamples.at(o.key);
    if (sample.is_boolean() && !sample.get<bool>() && o.negation.empty()) continue;
    DaemonConfig config;
    REQUIRE(parse_flags(config, flag_words(o, sample)) == "");
    CHECK(o.show(config) != o.show(defaults));
    DaemonConfig from_file;
    REQUIRE(apply_json(from_file, one_key(o.key, sample)).ok());
    CHECK(o.show(config) == o.show(from_file));  // the flag and the key set the same field to the same value
  }
}

TEST_CASE("ConfigKeyThatDoesNotReachItsFieldIsCaught", "[options]") {
  const DaemonConfig defaults;
  for (const auto& o : options()) {
    INFO(o.key);
    DaemonConfig config;
    auto st = apply_json(config, one_key(o.key, kSamples.at(o.key)));
    REQUIRE(st.ok());
    CHECK(o.show(config) != o.show(defaults));
    CHECK(ll::daemon::check_options(config).ok());  // every sample is valid
  }
}

TEST_CASE("ConfigFileOverridingAFlagIsCaught", "[options]") {
  DaemonConfig config;
  std::vector<std::string> given;
  REQUIRE(parse_flags(config, {"--threads", "2", "--no-beacon", "--peers", "", "--listen", "tcp://127.0.0.1:7801"},
                      &given) == "");
  CHECK(std::set<std::string>(given.begin(), given.end()) ==
        std::set<std::string>{"threads", "beacon", "peers", "listen"});
  Json file = {{"threads", 6},
               {"beacon", true},
               {"peers", Json::array({"tcp://10.0.0.8:7700"})},
               {"listen", "tcp://10.0.0.1:7700"},
               {"cluster", "garage"}};
  REQUIRE(apply_json(config, file, given).ok());
  CHECK(config.threads == 2);
  CHECK(!config.beacon);
  CHECK(config.peers.empty());
  CHECK(config.listen == "tcp://127.0.0.1:7801");
  CHECK(config.cluster == "garage");  // not given as a flag: the file's
}

TEST_CASE("DefaultDriftingFromTheTableIsCaught", "[options]") {
  DaemonConfig config;
  CHECK(config.listen == "tcp://127.0.0.1:7700");
  CHECK(config.cluster == "home");
  CHECK(config.heartbeat_interval_ms == 1000);
  CHECK(config.heartbeat_timeout_ms == 3000);
  CHECK(config.beacon);
  CHECK(config.beacon_port == 7701);
  CHECK(config.profile_seconds == 0.3);
  CHECK(config.emulate_speed == 1.0);
  CHECK(config.step_deadline_s == 60);
  CHECK(config.http_max_body_bytes == 1 << 20);
  CHECK(config.speculate == ll::kDefaultSpeculateMode);
  CHECK(config.draft_tokens == ll::kDefaultDraftTokens);
  CHECK(config.draft_model.empty());
  for (const auto& o : options()) {
    if (o.type == "integer" || o.type == "number") {
      INFO(o.key);
      if (o.default_text.find(' ') == std::string::npos) CHECK(o.show(config) == o.default_text);
    }
  }
  CHECK(ll::daemon::validate(config).ok());
}

TEST_CASE("OutOfRangeValueIsRefusedNamingTheFlagAndTheKey", "[options]") {
  struct Case {
    Json file;
    std::string must_name;
  };
  const std::vector<Case> cases = {
      {{{"threads", 2000}}, "--threads (config key threads): must be in 0..1024, got 2000"},
      {{{"emulate_speed", 0}}, "--emulate-speed (config key emulate_speed): must be in (0, 1], got 0"},
      {{{"prefill_chunk", 8}}, "--prefill-chunk (config key prefill_chunk): prefill chunk must be 0 (off) or 32..4096"},
      {{{"heartbeat_interval_ms", 5}}, "--heartbeat-interval-ms (config key heartbeat_interval_ms)"},
      {{{"probe_bytes", 1 << 21}}, "config key probe_bytes: must be in 1..1048576"},
      {{{"beacon_interval_ms", 10}}, "config key beacon_interval_ms: must be in 50..3600000"},
      {{{"listen", "ipc:///tmp/x"}}, "--listen (config key listen): must look like tcp://ADDRESS:PORT"},
      {{{"name", "a b"}}, "--name (config key name)"},
      {{{"memory_budget", "2furlongs"}}, "--memory-budget (config key memory_budget)"},
      {{{"peers", Json::array({"udp://x"})}}, "--peers (config key peers): bad endpoint: udp://x"},
      {{{"log_level", "loud"}}, "--log-level (config key log_level)"},
      {{{"emulate_egress", "fast"}}, "--emulate-egress (config key emulate_egress)"},
      {{{"http_threads", 0}}, "config key http_threads"},
      {{{"speculate", "sometimes"}}, "--speculate (config key speculate): must be off, ngram or draft"},
      {{{"speculate", "draft:stories260K-exit2"}}, "--speculate (config key speculate): must be off, ngram or draft"},
      {{{"draft_tokens", 17}}, "--draft-tokens (config key draft_tokens): must be in 0..16, got 17"},
      {{{"draft_tokens", -1}}, "--draft-tokens (config key draft_tokens): must be in 0..16, got -1"},
      {{{"speculate", "draft"}},
       "--speculate (config key speculate) draft needs --draft-model (config key draft_model)"},
      {{{"heartbeat_timeout_ms", 900}}, "--heartbeat-timeout-ms (900) must exceed --heartbeat-interval-ms (1000)"},
  };
  for (const auto& c : cases) {
    INFO(c.file.dump());
    DaemonConfig config;
    REQUIRE(apply_json(config, c.file).ok());
    auto st = ll::daemon::validate(config);
    REQUIRE(!st.ok());
    CHECK(st.error().find(c.must_name) != std::string::npos);
    CHECK(st.error().find('\n') == std::string::npos);
  }
}

TEST_CASE("FlagOutOfRangeIsRefusedLikeTheKey", "[options]") {
  DaemonConfig config;
  REQUIRE(parse_flags(config, {"--step-deadline", "-1"}) == "");
  auto st = ll::daemon::validate(config);
  REQUIRE(!st.ok());
  CHECK(st.error() == "--step-deadline (config key step_deadline_s): must be in [0, 86400], got -1");
}

TEST_CASE("UnknownOrMistypedConfigKeyIsRefused", "[options]") {
  DaemonConfig config;
  auto typo = apply_json(config, Json{{"listen", "tcp://127.0.0.1:1"}, {"heartbeat_intervall_ms", 5}});
  REQUIRE(!typo.ok());
  CHECK(typo.error() == "'heartbeat_intervall_ms': unknown key (did you mean heartbeat_interval_ms?)");
  auto unknown = apply_json(config, Json{{"gpu", true}});
  REQUIRE(!unknown.ok());
  CHECK(unknown.error() == "'gpu': unknown key (lingualinkd --help lists every key)");
  auto mistyped = apply_json(config, Json{{"threads", "four"}});
  REQUIRE(!mistyped.ok());
  CHECK(mistyped.error().rfind("'threads': ", 0) == 0);
  auto too_big = apply_json(config, Json{{"beacon_port", int64_t{1} << 40}});
  REQUIRE(!too_big.ok());
  CHECK(too_big.error().rfind("'beacon_port': out of range", 0) == 0);
  // An unknown key is refused even when a flag of that name was given.
  CHECK(!apply_json(config, Json{{"threadz", 1}}, {"threadz"}).ok());
  CHECK(apply_json(config, Json{{"_comment_x", "fine"}, {"#note", 1}}).ok());
}

TEST_CASE("ExampleConfigDriftingFromTheTableIsCaught", "[options]") {
  const std::string path = source_dir() + "/config/lingualinkd.example.json";
  DaemonConfig config;
  auto st = ll::daemon::apply_config_file(path, config, {});
  INFO(path);
  REQUIRE(st.ok());
  CHECK(ll::daemon::validate(config).ok());
  CHECK(config.name == "kitchen-pi");
  CHECK(config.memory_budget == "2GiB");
  CHECK(config.peers.size() == 2);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const Json example = Json::parse(text.str());
  for (const auto& o : options()) {
    INFO(o.key << " is not documented in the example config");
    CHECK(example.contains(o.key));
  }
}

TEST_CASE("HelpMissingAFlagOrItsDefaultIsCaught", "[options]") {
  DaemonConfig config;
  CLI::App app;
  ll::daemon::add_flags(app, config);
  const std::string help = app.help();
  for (const auto& o : options()) {
    INFO(o.key);
    if (o.flag.empty()) {
      CHECK(help.find("  " + o.key + ": ") != std::string::npos);  // listed in the footer
    } else {
      CHECK(help.find(o.flag) != std::string::npos);
    }
    if (!o.negation.empty()) CHECK(help.find(o.negation) != std::string::npos);
    if (!o.default_text.empty()) CHECK(help.find("(default: " + o.default_text + ")") != std::string::npos);
  }
}

TEST_CASE("SpeculateDraftWithItsDraftModelIsAccepted", "[options][speculation]") {
  DaemonConfig config;
  REQUIRE(parse_flags(config, {"--speculate", "draft", "--draft-model", "/models/exit2", "--draft-tokens", "3"}) == "");
  CHECK(ll::daemon::validate(config).ok());
  CHECK(config.speculate == "draft");
  CHECK(config.draft_model == "/models/exit2");
  CHECK(config.draft_tokens == 3);
  DaemonConfig off;
  REQUIRE(parse_flags(off, {"--draft-tokens", "0"}) == "");
  CHECK(ll::daemon::validate(off).ok());  // 0 drafts nothing: speculation off, as llctl's --draft-tokens 0
}
