// CURVE security for every ZeroMQ socket: key pairs, the keys folder, the allow-list, and the process-wide
// security settings that socket owners apply with secure_server() / secure_client().
//
// Model (docs/security.md): every daemon of a cluster serves with the cluster's server key pair (cluster.key, copied
// to each device by the owner); every daemon and every llctl connects with its own key pair (device.key), and a
// server admits a client only if the client's public key is in authorized_keys — checked by a ZAP handler
// (zap_handler.h), because CURVE alone admits any client that knows the server's public key.
//
// Thread-safety: install_security() is called once, before any socket exists; afterwards the settings are read-only
// and secure_server/secure_client may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "lingualinked/result.h"
#include "net/allow_list.h"

namespace zmq {
class socket_t;
}

namespace ll::net {

// Z85 text, 40 characters each.
struct KeyPair {
  std::string public_key;
  std::string secret_key;  // empty when only the public half is known
};

// File names inside a keys folder.
inline constexpr const char* kClusterKeyFile = "cluster.key";
inline constexpr const char* kDeviceKeyFile = "device.key";
inline constexpr const char* kAllowListFile = "authorized_keys";

[[nodiscard]] Result<KeyPair> generate_key_pair();
[[nodiscard]] bool is_z85_key(const std::string& text);

// Key files: "public = <z85>" and "secret = <z85>" lines, '#' comments. Written with mode 0600, never overwritten.
[[nodiscard]] Result<KeyPair> parse_key_file(const std::string& text);  // a key file's contents
[[nodiscard]] Result<KeyPair> read_key_file(const std::string& path);
[[nodiscard]] Status write_key_file(const std::string& path, const KeyPair& keys, const std::string& comment);

struct Security {
  bool enabled = false;
  KeyPair cluster;  // the servers' pair; secret empty in a client-only process (llctl)
  KeyPair device;   // this process's client identity
  std::shared_ptr<const AllowList> allowed = std::make_shared<AllowList>();
};

// Reads a keys folder. `serve` = the process accepts connections (needs cluster.key's secret and the allow-list).
[[nodiscard]] Result<Security> load_keys_folder(const std::string& dir, bool serve);
// True when the folder holds a cluster key and a device key.
[[nodiscard]] bool keys_folder_present(const std::string& dir);

void install_security(Security security);
[[nodiscard]] const Security& security();

// Socket options for a socket that binds / connects (before bind/connect). No-ops when security is off.
void secure_server(zmq::socket_t& socket);
void secure_client(zmq::socket_t& socket);

// True for tcp://127.x.x.x, tcp://localhost, tcp://[::1] and ipc:// / inproc:// endpoints.
[[nodiscard]] bool is_loopback_endpoint(const std::string& endpoint);

}  // namespace ll::net
