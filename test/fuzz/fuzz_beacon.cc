// libFuzzer target: ll::net::decode_beacon, the one decoder reachable without authentication (any host on the LAN
// can send a UDP datagram to port 7701). The input is the datagram. A beacon that decodes must hold what the node
// relies on (valid names, a tcp:// endpoint), and encode back to a datagram that decodes to the same beacon.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "net/beacon.h"
#include "proto/json_fields.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string datagram(reinterpret_cast<const char*>(data), size);
  auto decoded = ll::net::decode_beacon(datagram);
  if (!decoded.ok()) {
    require(!decoded.error().empty());
    return 0;
  }
  const ll::net::BeaconInfo& b = *decoded;
  require(size <= 512);
  require(ll::proto::valid_name(b.cluster) && ll::proto::valid_name(b.name));
  require(ll::proto::valid_endpoint(b.endpoint) && b.endpoint.rfind("tcp://", 0) == 0);
  const std::string again = ll::net::encode_beacon(b);
  require(again.size() <= 512);  // what we send, every receiver accepts
  auto round = ll::net::decode_beacon(again);
  require(round.ok() && round->cluster == b.cluster && round->name == b.name && round->endpoint == b.endpoint);
  return 0;
}
