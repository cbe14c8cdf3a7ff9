// libFuzzer target: ll::net::parse_allow_list, the authorized_keys parser (docs/security.md, "Roles"). The file is
// the operator's, but it is copied between devices and edited by hand, and a mistake must be an error, never a key
// with roles nobody wrote. The input is the file's text. A list that parses must hold only valid keys, names and
// roles, within the bounds, and write back to text that parses to the same list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "net/allow_list.h"
#include "net/curve.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto list = ll::net::parse_allow_list(text);
  if (!list.ok()) {
    require(!list.error().empty());
    return 0;
  }
  require(list->size() <= ll::net::kMaxAllowedKeys);
  std::string again;
  for (const auto& [key, entry] : *list) {
    require(ll::net::is_z85_key(key));
    require(!entry.name.empty() && entry.name.size() <= ll::net::kMaxKeyNameBytes);
    for (unsigned char c : entry.name) require(c > ' ' && c < 0x7f);
    require(entry.roles != 0 && (entry.roles & ~ll::net::kAllRoles) == 0);
    again += key + " " + entry.name + " " + ll::net::roles_text(entry.roles) + "\n";
  }
  auto round = ll::net::parse_allow_list(again);
  require(round.ok() && round->size() == list->size());
  for (const auto& [key, entry] : *round) {
    const auto& original = list->at(key);
    require(original.name == entry.name && original.roles == entry.roles);
  }
  return 0;
}
