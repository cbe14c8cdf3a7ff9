// Membership: who is in the cluster, what we last heard from each member, and the alive → suspect → dead state
// machine driven by the time since the last message. Also the quorum arithmetic: the known members are every
// member not known to have left, plus seed endpoints not yet resolved to a name, plus ourselves.
// Not thread-safe: owned by the node's thread.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "proto/messages.h"

namespace ll::cluster {

enum class PeerState { kUnknown, kAlive, kSuspect, kDead };
[[nodiscard]] const char* peer_state_name(PeerState state);

struct Member {
  std::string name;
  std::string endpoint;
  bool heard = false;  // ever heard directly (not only by gossip)
  TimePoint last_heard{};
  PeerState state = PeerState::kUnknown;
  bool left = false;     // said 'bye'; not counted in the quorum until heard again
  bool refused = false;  // its connection dropped and its address refused a reconnect: dead until heard again
  bool has_profile = false;
  proto::DeviceProfile profile;
  std::string role = "follower";  // as claimed in its last heartbeat
  uint64_t term = 0;
  std::string leader;
  std::map<std::string, proto::LinkStat> links;  // its measurements towards others
};

struct StateChange {
  std::string name;
  PeerState from;
  PeerState to;
};

class Membership {
 public:
  Membership(std::string self_name, std::string self_endpoint, Duration suspect_after, Duration dead_after);

  const std::string& self_name() const { return self_name_; }
  const std::string& self_endpoint() const { return self_endpoint_; }

  void add_seed(const std::string& endpoint);   // ignored if it is our own endpoint or already known
  void drop_seed(const std::string& endpoint);  // e.g. it turned out to be ourselves under another address
  const std::set<std::string>& unresolved_seeds() const { return seeds_; }

  // A message arrived directly from `name` at `endpoint`: records liveness, resolves seeds with that endpoint
  // (and `via_endpoint`, the address we dialled, if any). Returns nullptr if the member table is full.
  Member* heard_from(const std::string& name, const std::string& endpoint, const std::string& via_endpoint,
                     TimePoint now);
  // A member named by gossip. Left members and members already known are not changed. True if new.
  bool learn(const std::string& name, const std::string& endpoint);
  void mark_left(const std::string& name);
  // The member at `endpoint` is gone (its address refuses connections, net/connection_watch.h): it is dead now,
  // not after the heartbeat timeout — a crashed stage is planned around at once. Returns its name, or "" if unknown.
  std::string mark_refused(const std::string& endpoint);

  // Recomputes states; returns the transitions for logging.
  std::vector<StateChange> update_states(TimePoint now);

  [[nodiscard]] Member* find(const std::string& name);
  [[nodiscard]] const Member* find(const std::string& name) const;
  const std::map<std::string, Member>& members() const { return members_; }

  [[nodiscard]] size_t known_count() const;  // self + members not left + unresolved seeds
  [[nodiscard]] size_t quorum() const { return known_count() / 2 + 1; }
  [[nodiscard]] size_t alive_count() const;  // self + alive/suspect members
  // Members (not left) heard within `window` of `now`, plus ourselves.
  [[nodiscard]] size_t heard_within(TimePoint now, Duration window) const;
  [[nodiscard]] std::vector<std::string> target_endpoints() const;  // members not left + unresolved seeds
  [[nodiscard]] std::vector<proto::MemberRef> refs() const;         // self + members not left

 private:
  std::string self_name_;
  std::string self_endpoint_;
  Duration suspect_after_;
  Duration dead_after_;
  std::map<std::string, Member> members_;  // by name, excluding ourselves
  std::set<std::string> seeds_;            // endpoints not yet resolved to a name
};

}  // namespace ll::cluster
