// lingualinkd's option table: one row per option (flag, config key, type, default, bounds, help, the field it sets),
// from which the command-line flags and --help, the JSON config file's keys, the defaults of DaemonConfig and the
// per-option validation all come. Add an option here and nowhere else (then document its key in
// config/lingualinkd.example.json; test/unit/daemon_options checks both). Thread-safety: the table is built once,
// immutable afterwards; the functions are stateless.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "lingualinked/result.h"
#include "proto/json_fields.h"

namespace CLI {
class App;
}

namespace ll::daemon {

struct Option {
  std::string flag;          // "--threads"; "" = config file only (say why in the row)
  std::string negation;      // "--no-beacon" for a bool flag that can be turned off; "" = none
  std::string key;           // "threads": the config file's key
  std::string type;          // "integer", "number", "string", "bool" or "list": for --help and messages
  std::string help;          // one line, without the default
  std::string default_text;  // what --help shows as the default ("" = none shown)

  std::function<void(DaemonConfig&)> set_default;
  std::function<void(CLI::App&, DaemonConfig&, const std::string& help)> add_flag;  // unset: no flag
  std::function<Status(const proto::Json&, DaemonConfig&)> read_json;               // the key's value onto the field
  std::function<Status(const DaemonConfig&)> check;      // bounds and format; error without the name
  std::function<std::string(const DaemonConfig&)> show;  // the field's value as text

  // "--threads (config key threads)": how every error about this option names it.
  [[nodiscard]] std::string name() const;
  // The help line: help, then "(default ...)" when there is a default to show.
  [[nodiscard]] std::string help_line() const;
};

// Every option, in --help order.
[[nodiscard]] const std::vector<Option>& options();
// The row of a config key, or nullptr.
[[nodiscard]] const Option* find_option(const std::string& key);

// Adds every option's flag to `app`, writing into `config` when parsed.
void add_flags(CLI::App& app, DaemonConfig& config);
// The config keys whose flags (or negations) were given on the command line: the file does not override those.
[[nodiscard]] std::vector<std::string> keys_given_as_flags(const CLI::App& app);

// Applies a parsed config object onto `config`, skipping `keep`; unknown keys and mistyped values are errors that
// name the key. Keys starting with "_comment" or "#" are comments.
[[nodiscard]] Status apply_config_json(const proto::Json& object, DaemonConfig& config,
                                       const std::vector<std::string>& keep);

// Checks every option's bounds and format; the first failure, naming the option.
[[nodiscard]] Status check_options(const DaemonConfig& config);

}  // namespace ll::daemon
