// llctl: the command line of lingualinked. Exceptions stop here; every failure is one line on stderr and a
// non-zero exit.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "runtime/blas_kernels.h"

namespace {

bool computes_locally(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--local" || arg == "bench" || arg == "eval") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Only commands that compute with libtorch here pay for running again (loading libtorch twice: ~0.6 s); the
  // rest talk to daemons. A local run must use the kernels the daemons use, or its prefill rounds differently.
  if (computes_locally(argc, argv)) ll::use_native_blas_kernels(argv);
  CLI::App app{"llctl — run one language model across the devices you own"};
  app.set_version_flag("--version", std::string("llctl ") + LL_VERSION, "print the version and exit");
  app.require_subcommand(1);
  ll::cli::GlobalOptions global;
  app.add_option("--endpoint", global.endpoint, "daemon endpoint(s), comma-separated (default tcp://127.0.0.1:7700)");
  ll::cli::add_generate_command(app, global);
  ll::cli::add_bench_command(app, global);
  ll::cli::add_eval_command(app, global);
  ll::cli::add_plan_command(app, global);
  ll::cli::add_cluster_commands(app, global);
  ll::cli::add_load_command(app, global);
  ll::cli::add_device_command(app, global);
  ll::cli::add_keygen_command(app, global);
  app.add_option("--keys", global.keys, "CURVE keys folder (default $LL_KEYS, else /etc/lingualinked/keys if present)");
  app.parse_complete_callback([&app, &global] {
    if (!app.got_subcommand("keygen")) ll::cli::load_client_keys(global);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "llctl: %s (see llctl --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llctl: %s\n", e.what());
    return 1;
  }
  return global.exit_code;
}
