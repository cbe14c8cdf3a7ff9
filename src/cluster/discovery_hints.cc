#include "cluster/discovery_hints.h"

#include <algorithm>

namespace ll::cluster {

DiscoveryHints::DiscoveryHints(size_t max_hints, double per_second, Duration expiry)
    : max_hints_(max_hints), per_second_(per_second), expiry_(expiry), tokens_(per_second) {}

bool DiscoveryHints::offer(const std::string& endpoint, TimePoint now) {
  if (pending_.count(endpoint)) return false;
  if (refilled_ != TimePoint{}) {
    tokens_ = std::min(per_second_, tokens_ + per_second_ * to_ms(now - refilled_) / 1000.0);
  }
  refilled_ = now;
  if (pending_.size() >= max_hints_ || tokens_ < 1) {
    ++ignored_;
    return false;
  }
  tokens_ -= 1;
  pending_[endpoint] = now;
  return true;
}

bool DiscoveryHints::resolved(const std::string& endpoint) { return pending_.erase(endpoint) > 0; }

std::vector<std::string> DiscoveryHints::expire(TimePoint now) {
  std::vector<std::string> gone;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second >= expiry_) {
      gone.push_back(it->first);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

std::vector<std::string> DiscoveryHints::pending() const {
  std::vector<std::string> out;
  out.reserve(pending_.size());
  for (const auto& [endpoint, since] : pending_) out.push_back(endpoint);
  return out;
}

}  // namespace ll::cluster
