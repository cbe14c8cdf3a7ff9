// The allow-list (authorized_keys): which CURVE public keys may connect, the name their owner gave each, and the
// roles each key holds (docs/security.md, "Roles"). A line is "<z85 public key> <name> <role>[,<role>...]"; '#'
// starts a comment. Roles:
//   device — a daemon of the cluster: peer traffic (hello, heartbeats, votes), stage traffic, plans, shard files;
//   client — a user's llctl or app: generate, and read the cluster's state (devices, status, plan);
//   admin  — an operator: what a client may do, plus load, set a device's speed, remove a device.
// Every role may do what a client may (a daemon serves the HTTP API with its device key). Pure parsing, no sockets.
// Thread-safety: value types and stateless functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "lingualinked/result.h"

namespace ll::net {

enum class Role : uint8_t { kDevice = 1, kClient = 2, kAdmin = 4 };
using Roles = uint8_t;  // a set of Role bits
inline constexpr Roles kAllRoles = 7;

// True if a key holding `held` may do what `needed` allows. Any role includes the client's rights.
[[nodiscard]] constexpr bool permits(Roles held, Role needed) {
  return needed == Role::kClient ? held != 0 : (held & static_cast<Roles>(needed)) != 0;
}
[[nodiscard]] const char* role_name(Role role);
// "device,admin" -> bits; an empty list or an unknown role is an error naming it.
[[nodiscard]] Result<Roles> parse_roles(std::string_view text);
[[nodiscard]] std::string roles_text(Roles roles);

struct AllowedKey {
  std::string name;
  Roles roles = 0;
};

// Public key (Z85) -> its entry.
using AllowList = std::map<std::string, AllowedKey>;

// At most kMaxAllowedKeys lines with a key; a name is at most kMaxKeyNameBytes of printable ASCII without spaces.
inline constexpr size_t kMaxAllowedKeys = 1024;
inline constexpr size_t kMaxKeyNameBytes = 64;

[[nodiscard]] Result<AllowList> parse_allow_list(const std::string& text);
[[nodiscard]] Result<AllowList> read_allow_list(const std::string& path);
// Appends "<key> <name> <roles>" unless the key is already listed.
[[nodiscard]] Status add_to_allow_list(const std::string& path, const std::string& public_key, const std::string& name,
                                       Roles roles);

}  // namespace ll::net
