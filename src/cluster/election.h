// Election: Raft's leader election without a log, with pre-vote and leader stickiness (docs/cluster.md). Terms only
// grow; a member votes at most once per term (the vote is persisted by the caller before it is sent); a candidate
// needs a majority of the known members, first in a pre-vote that changes nobody's state, then in the real vote; a
// higher term seen on any message turns anyone into a follower. Terms are bounded (proto::kMaxTerm) and rise from
// messages through a budget, so that a hostile member cannot push them to the bound (docs/cluster.md, "Terms and
// their bound"). Pure logic: the caller feeds it events with the current time and the quorum, and acts on the return
// values. Not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <string>

#include "common/clock.h"

namespace ll::cluster {

enum class Role { kFollower, kCandidate, kLeader };
[[nodiscard]] const char* role_name(Role role);

struct ElectionTiming {
  Duration election_min = std::chrono::milliseconds(1800);  // randomized election timeout, lower bound
  Duration election_max = std::chrono::milliseconds(2500);
  // A member that heard a live leader this recently refuses (pre-)votes. 0 = 0.7 x election_min.
  Duration stickiness{0};
  // How far messages may raise our term: a bucket of term_rise_burst terms, refilled at that many per
  // term_rise_refill. A member restarted with term 0 catches up with any term up to the burst from one message;
  // pushing a term to proto::kMaxTerm takes 2^19 refills (60 years with the defaults).
  uint64_t term_rise_burst = uint64_t{1} << 20;
  Duration term_rise_refill = std::chrono::hours(1);
};

enum class TickAction { kNone, kPreVote, kElection };

struct PersistedVote {
  uint64_t term = 0;
  std::string voted_for;
};

enum class LeaderVerdict { kStale, kFollow, kConflict };

struct VoteDecision {
  bool granted = false;
  bool ignored = false;        // leader stickiness: we recently heard a live leader
  bool state_changed = false;  // term or vote changed: persist before replying
};

class Election {
 public:
  Election(std::string self, ElectionTiming timing, uint64_t seed, PersistedVote initial, TimePoint now);

  Role role() const { return role_; }
  uint64_t term() const { return term_; }
  const std::string& leader() const { return leader_; }
  const std::string& voted_for() const { return voted_for_; }
  PersistedVote persisted() const { return {term_, voted_for_}; }
  size_t votes() const { return votes_.size(); }

  // Any message carrying `term`: a higher term makes us a follower of that term with no vote. A term further ahead
  // than the rise budget allows is adopted only up to it (we catch up over several messages); never beyond
  // proto::kMaxTerm. True if our term changed.
  bool observe_term(uint64_t term, TimePoint now);
  // A heartbeat from a member claiming leadership in `term` (observe_term already applied).
  LeaderVerdict on_leader_heartbeat(const std::string& from, uint64_t term, TimePoint now);
  // A vote request; observe_term is applied inside unless the request is ignored. Granted only in a term we hold.
  VoteDecision on_vote_request(const std::string& candidate, uint64_t term, TimePoint now);
  // A vote reply; true if it made us leader.
  bool on_vote_reply(const std::string& voter, uint64_t term, bool granted, size_t quorum);
  // A pre-vote request from a member at `term` asking whether we would vote for it in term + 1 (which needs term + 1
  // within our rise budget and the bound). Changes nothing.
  [[nodiscard]] bool on_prevote_request(uint64_t term, TimePoint now) const;
  // A pre-vote reply to our pre-vote asked at `asked_term`; true if it completed a majority and a real election
  // started (term+1, self vote: persist, then ask everyone; role() may already be kLeader).
  bool on_prevote_reply(const std::string& voter, uint64_t asked_term, bool granted, size_t quorum, TimePoint now);
  // Timer. kPreVote: ask everyone whether they would vote for us (no state changed). kElection: a real election
  // started at once (quorum of one; role() == kLeader afterwards), persist.
  // At proto::kMaxTerm no election can start (kNone; an error is logged; docs/cluster.md says how to recover).
  TickAction tick(TimePoint now, size_t quorum);
  bool prevoting() const { return prevoting_; }
  // Leader only: steps down when fewer than `quorum` members (self included) were heard recently.
  bool check_quorum(size_t heard_recently, size_t quorum, TimePoint now);
  // The leader said goodbye: forget it and run an election soon. `rank` orders the survivors (0 goes first, the
  // next one election_min/8 later, ...) so that they do not split the vote by starting together.
  void leader_gone(TimePoint now, size_t rank);
  // Delays the first election (discovery grace).
  void hold_until(TimePoint when);

 private:
  void become_follower(TimePoint now);
  void reset_timer(TimePoint now);
  void start_election(TimePoint now, size_t quorum);
  bool leader_fresh(TimePoint now) const;
  uint64_t rise_budget(TimePoint now) const;  // terms messages may still raise ours by, now
  bool at_term_limit(TimePoint now);          // true (and logs, rate-limited) when term_ cannot grow

  std::string self_;
  ElectionTiming timing_;
  std::mt19937_64 rng_;
  Role role_ = Role::kFollower;
  uint64_t term_ = 0;
  std::string voted_for_;
  std::string leader_;
  TimePoint leader_contact_{};
  TimePoint deadline_{};
  std::set<std::string> votes_;
  bool prevoting_ = false;
  std::set<std::string> prevotes_;
  uint64_t rise_tokens_ = 0;  // the budget at rise_time_
  TimePoint rise_time_{};
  TimePoint next_warning_{};  // rate limit of the clamp and limit warnings
};

}  // namespace ll::cluster
