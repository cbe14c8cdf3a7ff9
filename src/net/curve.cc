#include "net/curve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <zmq.hpp>

namespace ll::net {
namespace {

Security g_security;  // written once by install_security(), before any socket exists

Result<std::string> read_small_file(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read " + path);
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > limit) return make_error(path + " is larger than " + std::to_string(limit) + " bytes");
  return text;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

bool is_z85_key(const std::string& text) {
  if (text.size() != 40) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, text.c_str()) != nullptr;
}

Result<KeyPair> generate_key_pair() {
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return make_error(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  }
  return KeyPair{public_key, secret_key};
}

Result<KeyPair> parse_key_file(const std::string& text) {
  KeyPair keys;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) return make_error("expected 'public = KEY' or 'secret = KEY'");
    const std::string name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (name != "public" && name != "secret") return make_error("unknown entry '" + name.substr(0, 32) + "'");
    if (!is_z85_key(value)) return make_error(name + " is not a 40-character Z85 key");
    (name == "public" ? keys.public_key : keys.secret_key) = value;
  }
  if (keys.public_key.empty()) return make_error("no public key");
  if (!keys.secret_key.empty()) {
    char derived[41];
    if (zmq_curve_public(derived, keys.secret_key.c_str()) != 0 || keys.public_key != derived) {
      return make_error("the secret key does not belong to the public key");
    }
  }
  return keys;
}

Result<KeyPair> read_key_file(const std::string& path) {
  LL_ASSIGN_OR_RETURN(std::string text, read_small_file(path, 4096));
  auto keys = parse_key_file(text);
  if (!keys) return make_error(path + ": " + keys.error());
  return keys;
}

Status write_key_file(const std::string& path, const KeyPair& keys, const std::string& comment) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("cannot create " + path + (errno == EEXIST ? ": it exists" : ""));
  std::string text = "# " + comment + "\npublic = " + keys.public_key + "\n";
  if (!keys.secret_key.empty()) text += "secret = " + keys.secret_key + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return make_error("cannot write " + path);
  return Status::Ok();
}

bool keys_folder_present(const std::string& dir) {
  return ::access((dir + "/" + kClusterKeyFile).c_str(), F_OK) == 0 &&
         ::access((dir + "/" + kDeviceKeyFile).c_str(), F_OK) == 0;
}

Result<Security> load_keys_folder(const std::string& dir, bool serve) {
  Security s;
  s.enabled = true;
  LL_ASSIGN_OR_RETURN(s.cluster, read_key_file(dir + "/" + kClusterKeyFile));
  LL_ASSIGN_OR_RETURN(s.device, read_key_file(dir + "/" + kDeviceKeyFile));
  if (s.device.secret_key.empty()) return make_error(dir + "/" + kDeviceKeyFile + ": no secret key");
  if (serve) {
    if (s.cluster.secret_key.empty()) return make_error(dir + "/" + kClusterKeyFile + ": no secret key");
    LL_ASSIGN_OR_RETURN(AllowList allowed, read_allow_list(dir + "/" + kAllowListFile));
    auto own = allowed.find(s.device.public_key);
    if (own == allowed.end()) {
      return make_error("this device's own key is not in " + dir + "/" + kAllowListFile +
                        " (peers would refuse it); add it with llctl keygen --authorize");
    }
    if (!permits(own->second.roles, Role::kDevice)) {
      return make_error("this device's own key has no role 'device' in " + dir + "/" + kAllowListFile +
                        " (peers would refuse its heartbeats)");
    }
    s.allowed = std::make_shared<const AllowList>(std::move(allowed));
  } else {
    s.cluster.secret_key.clear();  // a client never needs it
  }
  return s;
}

void install_security(Security security) { g_security = std::move(security); }

const Security& security() { return g_security; }

void secure_server(zmq::socket_t& socket) {
  if (!g_security.enabled) return;
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, g_security.cluster.secret_key);
  socket.set(zmq::sockopt::zap_domain, "lingualinked");
  // No ZAP handler in the socket's context should mean "refuse", not "admit everyone". ZMQ_ZAP_ENFORCE_DOMAIN (93)
  // is a draft option that a libzmq built without drafts rejects; the owners start their ZapHandler before binding,
  // so this is a second line of defence only.
  const int enforce = 1;
  (void)zmq_setsockopt(socket.handle(), 93, &enforce, sizeof enforce);
}

void secure_client(zmq::socket_t& socket) {
  if (!g_security.enabled) return;
  socket.set(zmq::sockopt::curve_serverkey, g_security.cluster.public_key);
  socket.set(zmq::sockopt::curve_publickey, g_security.device.public_key);
  socket.set(zmq::sockopt::curve_secretkey, g_security.device.secret_key);
}

bool is_loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  const std::string rest = endpoint.substr(6);
  return rest.rfind("127.", 0) == 0 || rest.rfind("localhost:", 0) == 0 || rest.rfind("[::1]:", 0) == 0;
}

}  // namespace ll::net
