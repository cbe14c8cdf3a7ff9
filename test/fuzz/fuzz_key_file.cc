// libFuzzer target: ll::net::parse_key_file, the parser of device.key and cluster.key ("public = KEY", "secret =
// KEY"). The input is the file's text. A key pair that parses has a valid public key, and a secret key only if it
// belongs to that public key.
#include <zmq.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "net/curve.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto keys = ll::net::parse_key_file(text);
  if (!keys.ok()) {
    require(!keys.error().empty());
    return 0;
  }
  require(ll::net::is_z85_key(keys->public_key));
  if (!keys->secret_key.empty()) {
    require(ll::net::is_z85_key(keys->secret_key));
    char derived[41];
    require(zmq_curve_public(derived, keys->secret_key.c_str()) == 0 && keys->public_key == derived);
  }
  return 0;
}
