// Which beacons a daemon acts on (net/beacon.h): without keys, only loopback's.
#include <catch2/catch.hpp>

#include "net/beacon.h"

namespace {
constexpr uint32_t kLoopback = 0x7f000001;  // 127.0.0.1
constexpr uint32_t kLan = 0xc0a80105;       // 192.168.1.5
}  // namespace

TEST_CASE("KeylessDaemonIgnoresBeaconsFromOrNamingOtherHosts", "[beacon]") {
  const ll::net::BeaconInfo local{"home", "b", "tcp://127.0.0.1:7700"};
  const ll::net::BeaconInfo remote{"home", "b", "tcp://192.168.1.5:7700"};
  CHECK(ll::net::beacon_source_allowed(true, kLoopback, local));
  CHECK_FALSE(ll::net::beacon_source_allowed(true, kLan, local));
  CHECK_FALSE(ll::net::beacon_source_allowed(true, kLoopback, remote));  // would be dialled in the clear
  CHECK(ll::net::beacon_source_allowed(false, kLan, remote));            // CURVE on: a hint to greet
}
