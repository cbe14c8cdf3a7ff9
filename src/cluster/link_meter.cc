#include "cluster/link_meter.h"

#include <algorithm>

#include "proto/limits.h"

namespace ll::cluster {

uint64_t LinkMeter::issue(const std::string& peer, uint64_t nonce, uint64_t payload_bytes, TimePoint now) {
  if (pending_.size() >= 4 * proto::kMaxMembers) pending_.erase(pending_.begin());  // bounded
  pending_[nonce] = Pending{peer, now, payload_bytes};
  return nonce;
}

bool LinkMeter::answer(const std::string& peer, uint64_t nonce, uint64_t bytes_received, TimePoint now) {
  auto it = pending_.find(nonce);
  if (it == pending_.end() || it->second.peer != peer) return false;
  const Pending p = it->second;
  pending_.erase(it);
  Link& link = links_[peer];
  const double ms = to_ms(now - p.sent);
  if (p.bytes == 0) {
    link.rtt_ms = link.rtt_ms == 0 ? ms : 0.7 * link.rtt_ms + 0.3 * ms;
    link.min_rtt_ms = link.min_rtt_ms == 0 ? ms : std::min(link.min_rtt_ms, ms);
    return true;
  }
  if (bytes_received != p.bytes) return false;
  const double transfer_ms = std::max({0.001, ms - link.min_rtt_ms, ms / 4});
  const double mbps = static_cast<double>(p.bytes) / 1e6 / (transfer_ms / 1000.0);
  link.bandwidth_mbps = link.bandwidth_mbps == 0 ? mbps : 0.7 * link.bandwidth_mbps + 0.3 * mbps;
  return true;
}

void LinkMeter::expire(TimePoint now, Duration max_age) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = now - it->second.sent > max_age ? pending_.erase(it) : std::next(it);
  }
}

bool LinkMeter::has_rtt(const std::string& peer) const {
  auto it = links_.find(peer);
  return it != links_.end() && it->second.rtt_ms > 0;
}

bool LinkMeter::has_bandwidth(const std::string& peer) const {
  auto it = links_.find(peer);
  return it != links_.end() && it->second.bandwidth_mbps > 0;
}

std::map<std::string, proto::LinkStat> LinkMeter::stats() const {
  std::map<std::string, proto::LinkStat> out;
  for (const auto& [peer, link] : links_) {
    proto::LinkStat s{link.rtt_ms, link.bandwidth_mbps};
    if (s.rtt_ms > 0) s.rtt_ms += 2 * egress_latency_ms_;
    if (egress_mbps_ > 0)
      s.bandwidth_mbps = s.bandwidth_mbps > 0 ? std::min(s.bandwidth_mbps, egress_mbps_) : egress_mbps_;
    out[peer] = s;
  }
  return out;
}

}  // namespace ll::cluster
