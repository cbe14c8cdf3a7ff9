#include "cluster/membership.h"

#include "common/log.h"
#include "proto/limits.h"

namespace ll::cluster {

const char* peer_state_name(PeerState state) {
  switch (state) {
    case PeerState::kUnknown:
      return "unknown";
    case PeerState::kAlive:
      return "alive";
    case PeerState::kSuspect:
      return "suspect";
    case PeerState::kDead:
      return "dead";
  }
  return "?";
}

Membership::Membership(std::string self_name, std::string self_endpoint, Duration suspect_after, Duration dead_after)
    : self_name_(std::move(self_name)),
      self_endpoint_(std::move(self_endpoint)),
      suspect_after_(suspect_after),
      dead_after_(dead_after) {}

void Membership::add_seed(const std::string& endpoint) {
  if (endpoint == self_endpoint_) return;
  for (const auto& [name, m] : members_) {
    if (m.endpoint == endpoint) return;
  }
  if (seeds_.size() >= proto::kMaxMembers) return;
  seeds_.insert(endpoint);
}

void Membership::drop_seed(const std::string& endpoint) { seeds_.erase(endpoint); }

Member* Membership::heard_from(const std::string& name, const std::string& endpoint, const std::string& via_endpoint,
                               TimePoint now) {
  if (name == self_name_) return nullptr;
  auto it = members_.find(name);
  if (it == members_.end()) {
    if (members_.size() >= proto::kMaxMembers) {
      LL_WARN("member table full (" << proto::kMaxMembers << "); ignoring " << name);
      return nullptr;
    }
    it = members_.emplace(name, Member{}).first;
    it->second.name = name;
    LL_INFO("new member " << name << " at " << endpoint);
  }
  Member& m = it->second;
  if (m.endpoint != endpoint) {
    if (!m.endpoint.empty()) LL_INFO("member " << name << " moved from " << m.endpoint << " to " << endpoint);
    m.endpoint = endpoint;
  }
  if (m.left) LL_INFO("member " << name << " is back");
  m.left = false;
  m.refused = false;
  m.heard = true;
  m.last_heard = now;
  seeds_.erase(endpoint);
  if (!via_endpoint.empty()) seeds_.erase(via_endpoint);
  return &m;
}

bool Membership::learn(const std::string& name, const std::string& endpoint) {
  if (name == self_name_ || endpoint == self_endpoint_) return false;
  if (members_.count(name)) return false;
  if (members_.size() >= proto::kMaxMembers) return false;
  Member m;
  m.name = name;
  m.endpoint = endpoint;
  members_.emplace(name, std::move(m));
  seeds_.erase(endpoint);
  LL_INFO("learned of member " << name << " at " << endpoint);
  return true;
}

void Membership::mark_left(const std::string& name) {
  auto it = members_.find(name);
  if (it == members_.end()) return;
  it->second.left = true;
  it->second.state = PeerState::kDead;
}

std::string Membership::mark_refused(const std::string& endpoint) {
  for (auto& [name, m] : members_) {
    if (m.endpoint == endpoint && !m.left) {
      m.refused = true;
      return name;
    }
  }
  return "";
}

std::vector<StateChange> Membership::update_states(TimePoint now) {
  std::vector<StateChange> changes;
  for (auto& [name, m] : members_) {
    PeerState next = PeerState::kUnknown;
    if (m.left || (m.refused && m.heard)) {
      next = PeerState::kDead;
    } else if (m.heard) {
      const Duration since = now - m.last_heard;
      next = since <= suspect_after_ ? PeerState::kAlive
             : since <= dead_after_  ? PeerState::kSuspect
                                     : PeerState::kDead;
    }
    if (next != m.state) {
      changes.push_back({name, m.state, next});
      m.state = next;
    }
  }
  return changes;
}

Member* Membership::find(const std::string& name) {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

const Member* Membership::find(const std::string& name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

size_t Membership::known_count() const {
  size_t n = 1 + seeds_.size();
  for (const auto& [name, m] : members_) {
    if (!m.left) ++n;
  }
  return n;
}

size_t Membership::alive_count() const {
  size_t n = 1;
  for (const auto& [name, m] : members_) {
    if (!m.left && (m.state == PeerState::kAlive || m.state == PeerState::kSuspect)) ++n;
  }
  return n;
}

size_t Membership::heard_within(TimePoint now, Duration window) const {
  size_t n = 1;
  for (const auto& [name, m] : members_) {
    if (!m.left && m.heard && now - m.last_heard <= window) ++n;
  }
  return n;
}

std::vector<std::string> Membership::target_endpoints() const {
  std::vector<std::string> out(seeds_.begin(), seeds_.end());
  for (const auto& [name, m] : members_) {
    if (!m.left && !m.endpoint.empty()) out.push_back(m.endpoint);
  }
  return out;
}

std::vector<proto::MemberRef> Membership::refs() const {
  std::vector<proto::MemberRef> out;
  out.push_back({self_name_, self_endpoint_});
  for (const auto& [name, m] : members_) {
    if (!m.left && !m.endpoint.empty()) out.push_back({name, m.endpoint});
  }
  return out;
}

}  // namespace ll::cluster
