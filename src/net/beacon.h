// UDP discovery beacons: every interval, a small datagram carrying the protocol version, the cluster name, the
// device name and its ZeroMQ endpoint is broadcast on every IPv4 interface that has a broadcast address (and sent to
// any extra addresses given); received beacons are validated (size, JSON, version, cluster, name, endpoint) before
// their endpoint is handed to a callback. No sockets outside this class. Thread-safety: one thread calls run();
// stop() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "lingualinked/result.h"

namespace ll::net {

struct BeaconConfig {
  std::string cluster;
  std::string name;
  std::string endpoint;  // what peers should dial (tcp://...); beacons are not sent for loopback endpoints
  int port = 7701;       // UDP port, the same on every device
  Duration interval = std::chrono::seconds(1);
  std::vector<std::string> extra_targets;  // additional IPv4 addresses to send to (unicast or broadcast)
  // Keyless mode (no CURVE, loopback only): a beacon from another host, or naming another host, is ignored — its
  // endpoint would be dialled in the clear.
  bool loopback_only = false;
};

// A beacon's payload, as sent and as validated on receipt.
struct BeaconInfo {
  std::string cluster;
  std::string name;
  std::string endpoint;
};

[[nodiscard]] std::string encode_beacon(const BeaconInfo& info);
[[nodiscard]] Result<BeaconInfo> decode_beacon(const std::string& datagram);
// Whether a valid beacon from IPv4 `source` (host byte order) may be acted on; see BeaconConfig::loopback_only.
[[nodiscard]] bool beacon_source_allowed(bool loopback_only, uint32_t source, const BeaconInfo& info);

class Beacon {
 public:
  using OnPeer = std::function<void(const BeaconInfo&)>;
  explicit Beacon(BeaconConfig config);
  ~Beacon();

  // Binds the UDP port (SO_REUSEADDR: several daemons on one host can share it).
  [[nodiscard]] Status open();
  // Sends and listens until stop(); calls on_peer for each valid beacon of our cluster from another device.
  void run(const OnPeer& on_peer);
  void stop() { stop_ = true; }

 private:
  void send_all();

  BeaconConfig config_;
  int fd_ = -1;
  bool sending_ = true;
  std::atomic<bool> stop_{false};
};

}  // namespace ll::net
