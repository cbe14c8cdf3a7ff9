// llctl keygen DIR: makes a CURVE key pair (DIR/device.key) for a device or a user's llctl, and prints the
// "KEY NAME" line to add to authorized_keys. --cluster also makes a new cluster server key, --authorize adds the new
// key to DIR/authorized_keys. Also here: how llctl finds its own keys (docs/security.md).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "cli/commands.h"
#include "net/curve.h"

namespace ll::cli {
namespace {

struct KeygenFlags {
  std::string dir;
  std::string name;
  bool cluster = false;
  bool authorize = false;
  std::string roles = "client";
};

int run_keygen(const KeygenFlags& flags) {
  auto fail = [](const std::string& error) {
    std::fprintf(stderr, "llctl keygen: %s\n", error.c_str());
    return 1;
  };
  if (::mkdir(flags.dir.c_str(), 0700) != 0 && errno != EEXIST) return fail("cannot create " + flags.dir);
  const std::string device_path = flags.dir + "/" + net::kDeviceKeyFile;
  auto device = net::generate_key_pair();
  if (!device) return fail(device.error());
  const std::string name = flags.name.empty() ? "llctl" : flags.name;
  auto roles = net::parse_roles(flags.roles);
  if (!roles) return fail("--role: " + roles.error());
  if (auto st = net::write_key_file(device_path, *device, "lingualinked key of " + name); !st.ok())
    return fail(st.error());
  if (flags.cluster) {
    auto cluster = net::generate_key_pair();
    if (!cluster) return fail(cluster.error());
    const std::string path = flags.dir + "/" + net::kClusterKeyFile;
    if (auto st = net::write_key_file(path, *cluster, "lingualinked cluster server key: the same on every device");
        !st.ok())
      return fail(st.error());
  }
  if (flags.authorize) {
    if (auto st = net::add_to_allow_list(flags.dir + "/" + net::kAllowListFile, device->public_key, name, *roles);
        !st.ok())
      return fail(st.error());
  }
  std::printf("%s %s %s\n", device->public_key.c_str(), name.c_str(), net::roles_text(*roles).c_str());
  return 0;
}

}  // namespace

void add_keygen_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<KeygenFlags>();
  auto* sub = app.add_subcommand("keygen", "make a CURVE key pair; prints the line to add to authorized_keys");
  sub->add_option("dir", flags->dir, "keys folder to write device.key into")->required();
  sub->add_option("--name", flags->name, "name shown in authorized_keys and logs (default llctl)");
  sub->add_flag("--cluster", flags->cluster, "also make a new cluster server key (cluster.key)");
  sub->add_flag("--authorize", flags->authorize, "also add the new key to DIR/authorized_keys");
  sub->add_option("--role", flags->roles,
                  "what the key may do, comma-separated: client (generate, read state; the default), admin (also "
                  "load, set speed, remove devices), device (a daemon)");
  sub->callback([flags, &global] { global.exit_code = run_keygen(*flags); });
}

void load_client_keys(const GlobalOptions& global) {
  const char* env = std::getenv("LL_KEYS");
  const bool explicit_dir = !global.keys.empty() || (env && *env);
  const std::string dir = !global.keys.empty() ? global.keys : (env && *env ? env : "/etc/lingualinked/keys");
  if (!net::keys_folder_present(dir)) {
    if (explicit_dir) throw std::runtime_error("no keys in " + dir + " (expected cluster.key and device.key)");
    return;  // talk in the clear; a daemon with CURVE will not answer (the error says so)
  }
  auto security = net::load_keys_folder(dir, /*serve=*/false);
  if (!security) throw std::runtime_error("keys: " + security.error());
  net::install_security(std::move(security).value());
}

}  // namespace ll::cli
