// llctl subcommands. Each lives in its own file and registers itself on the CLI11 app; main.cc only wires them up.
// The callback of a subcommand stores its exit code in GlobalOptions::exit_code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ll::cli {

struct GlobalOptions {
  // Daemon endpoint(s), comma-separated; the first reachable one is used.
  std::string endpoint = "tcp://127.0.0.1:7700";
  std::string keys;  // CURVE keys folder; default $LL_KEYS, else /etc/lingualinked/keys if present
  int exit_code = 0;
};

void add_generate_command(CLI::App& app, GlobalOptions& global);  // generate.cc
void add_bench_command(CLI::App& app, GlobalOptions& global);     // bench.cc
void add_eval_command(CLI::App& app, GlobalOptions& global);      // eval.cc
void add_plan_command(CLI::App& app, GlobalOptions& global);      // plan.cc
void add_cluster_commands(CLI::App& app, GlobalOptions& global);  // devices.cc: devices, status
void add_load_command(CLI::App& app, GlobalOptions& global);      // load.cc
void add_device_command(CLI::App& app, GlobalOptions& global);    // device.cc
void add_keygen_command(CLI::App& app, GlobalOptions& global);    // keygen.cc

// Installs llctl's CURVE client keys (keygen.cc); throws when a folder named explicitly lacks them.
void load_client_keys(const GlobalOptions& global);

}  // namespace ll::cli
