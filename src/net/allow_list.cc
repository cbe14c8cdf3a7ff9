#include "net/allow_list.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "net/curve.h"

namespace ll::net {
namespace {

constexpr Role kRoles[] = {Role::kDevice, Role::kClient, Role::kAdmin};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxKeyNameBytes) return false;
  for (unsigned char c : name) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::kDevice:
      return "device";
    case Role::kClient:
      return "client";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

Result<Roles> parse_roles(std::string_view text) {
  Roles roles = 0;
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view word = text.substr(0, comma);
    bool known = false;
    for (Role r : kRoles) {
      if (word == role_name(r)) {
        roles |= static_cast<Roles>(r);
        known = true;
      }
    }
    if (!known) {
      return make_error(word.empty()
                            ? std::string("no role (device, client or admin)")
                            : "unknown role '" + std::string(word.substr(0, 32)) + "' (device, client or admin)");
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return roles;
}

std::string roles_text(Roles roles) {
  std::string text;
  for (Role r : kRoles) {
    if (roles & static_cast<Roles>(r)) text += (text.empty() ? "" : ",") + std::string(role_name(r));
  }
  return text;
}

Result<AllowList> parse_allow_list(const std::string& text) {
  AllowList list;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::string where = "line " + std::to_string(number) + ": ";
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string key, name, roles, extra;
    words >> key >> name >> roles >> extra;
    if (!is_z85_key(key)) return make_error(where + "not a 40-character Z85 public key");
    if (!valid_name(name)) {
      return make_error(where + "expected '<key> <name> <role>' with a name of 1 to " +
                        std::to_string(kMaxKeyNameBytes) + " printable characters");
    }
    auto parsed = parse_roles(roles);
    if (!parsed) return make_error(where + parsed.error() + " for " + name + ": write '<key> <name> <role>'");
    if (!extra.empty()) return make_error(where + "unexpected text after the roles");
    if (list.count(key)) return make_error(where + "key listed twice");
    if (list.size() >= kMaxAllowedKeys) return make_error("more than " + std::to_string(kMaxAllowedKeys) + " keys");
    list[key] = AllowedKey{name, *parsed};
  }
  return list;
}

Result<AllowList> read_allow_list(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read " + path);
  constexpr size_t kLimit = 1 << 20;
  std::string text(kLimit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kLimit) return make_error(path + " is larger than " + std::to_string(kLimit) + " bytes");
  auto list = parse_allow_list(text);
  if (!list) return make_error(path + ": " + list.error());
  return list;
}

Status add_to_allow_list(const std::string& path, const std::string& public_key, const std::string& name, Roles roles) {
  if (!valid_name(name)) return make_error("a key's name is 1 to 64 printable characters without spaces");
  AllowList list;
  if (::access(path.c_str(), F_OK) == 0) {
    LL_ASSIGN_OR_RETURN(list, read_allow_list(path));
  }
  if (list.count(public_key)) return Status::Ok();
  std::ofstream out(path, std::ios::app);
  if (!out) return make_error("cannot write " + path);
  out << public_key << " " << name << " " << roles_text(roles) << "\n";
  if (!out) return make_error("cannot write " + path);
  return Status::Ok();
}

}  // namespace ll::net
