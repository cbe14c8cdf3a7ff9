#include "daemon/keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "common/log.h"
#include "net/curve.h"

namespace ll::daemon {
namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Status make_dir(const std::string& dir) {
  std::string partial;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && i > 0)) {
      partial = dir.substr(0, i);
      if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return make_error("cannot create " + partial);
    }
  }
  return Status::Ok();
}

}  // namespace

Status init_keys(const DaemonConfig& config) {
  const std::string& dir = config.keys_dir;
  LL_TRY_STATUS(make_dir(dir));
  const std::string device_path = dir + "/" + net::kDeviceKeyFile;
  const std::string cluster_path = dir + "/" + net::kClusterKeyFile;
  const std::string allow_path = dir + "/" + net::kAllowListFile;
  if (!exists(device_path)) {
    LL_ASSIGN_OR_RETURN(net::KeyPair keys, net::generate_key_pair());
    LL_TRY_STATUS(net::write_key_file(device_path, keys, "lingualinked device key of " + config.name));
    std::printf("created %s\n", device_path.c_str());
  }
  bool new_cluster = false;
  if (!exists(cluster_path)) {
    LL_ASSIGN_OR_RETURN(net::KeyPair keys, net::generate_key_pair());
    LL_TRY_STATUS(net::write_key_file(cluster_path, keys, "lingualinked cluster server key: the same on every device"));
    std::printf("created %s (a new cluster)\n", cluster_path.c_str());
    new_cluster = true;
  }
  LL_ASSIGN_OR_RETURN(net::KeyPair device, net::read_key_file(device_path));
  LL_TRY_STATUS(
      net::add_to_allow_list(allow_path, device.public_key, config.name, static_cast<net::Roles>(net::Role::kDevice)));
  std::printf("device %s: public key %s\n", config.name.c_str(), device.public_key.c_str());
  if (new_cluster) {
    std::printf(
        "next: copy %s and %s to the keys folder of every other device, run `lingualinkd --init` there, and add "
        "each device's line (\"KEY NAME device\") to authorized_keys on every device; give each user's llctl key "
        "(llctl keygen) the role client or admin\n",
        cluster_path.c_str(), allow_path.c_str());
  } else {
    std::printf("next: add the line \"%s %s device\" to %s on every other device\n", device.public_key.c_str(),
                config.name.c_str(), net::kAllowListFile);
  }
  return Status::Ok();
}

Status setup_security(const DaemonConfig& config) {
  const bool loopback = net::is_loopback_endpoint(config.listen) &&
                        (config.data_listen.empty() || net::is_loopback_endpoint(config.data_listen)) &&
                        (config.deploy_listen.empty() || net::is_loopback_endpoint(config.deploy_listen));
  if (config.insecure) {
    LL_WARN("--insecure: CURVE is off; any host that reaches "
            << config.listen
            << " or the data and deploy ports can join, read and control "
               "this device");
    return Status::Ok();
  }
  if (!net::keys_folder_present(config.keys_dir)) {
    if (!loopback) {
      return make_error("no keys in " + config.keys_dir + " and listening on " + config.listen +
                        ": run `lingualinkd --init --keys " + config.keys_dir +
                        "` (see docs/security.md), or pass --insecure to run without authentication");
    }
    LL_WARN("no keys in " << config.keys_dir
                          << ": running without CURVE, which is tolerable only because every socket is on loopback "
                             "(`lingualinkd --init` makes keys)");
    return Status::Ok();
  }
  auto security = net::load_keys_folder(config.keys_dir, /*serve=*/true);
  if (!security) return make_error("keys: " + security.error());
  LL_INFO("CURVE on: " << security->allowed->size() << " key(s) allowed (" << config.keys_dir << "/"
                       << net::kAllowListFile << ")");
  net::install_security(std::move(security).value());
  return Status::Ok();
}

}  // namespace ll::daemon
