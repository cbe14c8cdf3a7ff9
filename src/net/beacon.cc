#include "net/beacon.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "net/curve.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

namespace ll::net {
namespace {
constexpr size_t kMaxBeaconBytes = 512;
constexpr char kPrefix[] = "LLB1 ";

bool loopback_endpoint(const std::string& ep) {
  return ep.find("://127.") != std::string::npos || ep.find("://localhost") != std::string::npos ||
         ep.find("://[::1]") != std::string::npos;
}
}  // namespace

std::string encode_beacon(const BeaconInfo& info) {
  return std::string(kPrefix) + proto::Json{{"v", proto::kProtocolVersion},
                                            {"cluster", info.cluster},
                                            {"name", info.name},
                                            {"endpoint", info.endpoint}}
                                    .dump();
}

Result<BeaconInfo> decode_beacon(const std::string& datagram) {
  if (datagram.size() > kMaxBeaconBytes) return make_error("beacon too large");
  if (datagram.compare(0, sizeof(kPrefix) - 1, kPrefix) != 0) return make_error("not a lingualinked beacon");
  LL_ASSIGN_OR_RETURN(proto::Json j,
                      proto::parse_control_json(datagram.substr(sizeof(kPrefix) - 1), kMaxBeaconBytes, 2));
  LL_ASSIGN_OR_RETURN(int64_t v, proto::get_i64(j, "v"));
  if (v != proto::kProtocolVersion) return make_error("beacon of protocol version " + std::to_string(v));
  BeaconInfo info;
  LL_ASSIGN_OR_RETURN(info.cluster, proto::get_name(j, "cluster"));
  LL_ASSIGN_OR_RETURN(info.name, proto::get_name(j, "name"));
  LL_ASSIGN_OR_RETURN(info.endpoint, proto::get_endpoint(j, "endpoint"));
  if (info.endpoint.rfind("tcp://", 0) != 0) return make_error("beacon endpoint is not tcp://");
  return info;
}

Beacon::Beacon(BeaconConfig config) : config_(std::move(config)) {}

Beacon::~Beacon() {
  if (fd_ >= 0) ::close(fd_);
}

Status Beacon::open() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return make_error(std::string("beacon socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd_, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(config_.port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return make_error("beacon: cannot bind UDP port " + std::to_string(config_.port) + ": " + std::strerror(errno));
  }
  sending_ = !loopback_endpoint(config_.endpoint);
  if (!sending_) LL_INFO("beacon: listening only (endpoint " << config_.endpoint << " is loopback)");
  return Status::Ok();
}

void Beacon::send_all() {
  const std::string payload = encode_beacon({config_.cluster, config_.name, config_.endpoint});
  auto send_to = [&](in_addr target) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(config_.port));
    to.sin_addr = target;
    if (::sendto(fd_, payload.data(), payload.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      LL_DEBUG("beacon to " << inet_ntoa(target) << ": " << std::strerror(errno));
    }
  };
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
      if (!(i->ifa_flags & IFF_UP) || !(i->ifa_flags & IFF_BROADCAST) || i->ifa_broadaddr == nullptr) continue;
      send_to(reinterpret_cast<sockaddr_in*>(i->ifa_broadaddr)->sin_addr);
    }
    ::freeifaddrs(list);
  }
  for (const auto& t : config_.extra_targets) {
    in_addr a{};
    if (::inet_pton(AF_INET, t.c_str(), &a) == 1) send_to(a);
  }
}

bool beacon_source_allowed(bool loopback_only, uint32_t source, const BeaconInfo& info) {
  if (!loopback_only) return true;
  return (source >> 24) == 127 && is_loopback_endpoint(info.endpoint);
}

void Beacon::run(const OnPeer& on_peer) {
  auto next_send = std::chrono::steady_clock::now();
  char buf[kMaxBeaconBytes + 1];
  // Malformed beacons are logged once per 10 s with a count, so a flood cannot flood the log.
  uint64_t dropped = 0;
  auto last_warning = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  uint64_t ignored_remote = 0;
  auto last_remote_warning = last_warning;
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    if (sending_ && now >= next_send) {
      send_all();
      next_send = now + config_.interval;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    auto info = decode_beacon(std::string(buf, static_cast<size_t>(n)));
    if (!info.ok()) {
      ++dropped;
      if (std::chrono::steady_clock::now() - last_warning >= std::chrono::seconds(10)) {
        LL_WARN("refused a beacon from " << inet_ntoa(from.sin_addr) << ": " << info.error() << " (" << dropped
                                         << " malformed so far)");
        last_warning = std::chrono::steady_clock::now();
      }
      continue;
    }
    if (info->cluster != config_.cluster || info->name == config_.name) continue;
    if (!beacon_source_allowed(config_.loopback_only, ntohl(from.sin_addr.s_addr), *info)) {
      ++ignored_remote;
      if (std::chrono::steady_clock::now() - last_remote_warning >= std::chrono::seconds(10)) {
        LL_WARN("ignored a beacon from " << inet_ntoa(from.sin_addr) << " naming " << info->endpoint
                                         << ": without keys this daemon listens to loopback only (" << ignored_remote
                                         << " so far)");
        last_remote_warning = std::chrono::steady_clock::now();
      }
      continue;
    }
    on_peer(*info);
  }
}

}  // namespace ll::net
