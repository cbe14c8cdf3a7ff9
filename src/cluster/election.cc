#include "cluster/election.h"

#include "common/log.h"

namespace ll::cluster {

const char* role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

Election::Election(std::string self, ElectionTiming timing, uint64_t seed, PersistedVote initial, TimePoint now)
    : self_(std::move(self)), timing_(timing), rng_(seed), term_(initial.term), voted_for_(initial.voted_for) {
  if (timing_.stickiness.count() <= 0) timing_.stickiness = timing_.election_min * 7 / 10;
  reset_timer(now);
}

bool Election::leader_fresh(TimePoint now) const {
  return !leader_.empty() && now - leader_contact_ < timing_.stickiness;
}

void Election::reset_timer(TimePoint now) {
  const int64_t lo = timing_.election_min.count();
  const int64_t hi = std::max(lo, static_cast<int64_t>(timing_.election_max.count()));
  deadline_ = now + Duration(std::uniform_int_distribution<int64_t>(lo, hi)(rng_));
}

void Election::hold_until(TimePoint when) {
  if (deadline_ < when) deadline_ = when;
}

void Election::become_follower(TimePoint now) {
  if (role_ != Role::kFollower) LL_INFO("term " << term_ << ": " << role_name(role_) << " -> follower");
  role_ = Role::kFollower;
  votes_.clear();
  prevoting_ = false;
  reset_timer(now);
}

bool Election::observe_term(uint64_t term, TimePoint now) {
  if (term <= term_) return false;
  term_ = term;
  voted_for_.clear();
  leader_.clear();
  become_follower(now);
  return true;
}

LeaderVerdict Election::on_leader_heartbeat(const std::string& from, uint64_t term, TimePoint now) {
  if (term < term_) return LeaderVerdict::kStale;
  if (role_ == Role::kLeader) {
    // Two leaders in one term can only come from members that disagreed on who is known (clusters formed apart and
    // then merged). Step down; the next election, in a higher term, settles it.
    LL_WARN("term " << term_ << ": " << from << " also claims leadership; stepping down");
    leader_.clear();
    become_follower(now);
    return LeaderVerdict::kConflict;
  }
  if (role_ == Role::kCandidate) become_follower(now);
  prevoting_ = false;
  if (leader_ != from) LL_INFO("term " << term_ << ": following " << from);
  leader_ = from;
  leader_contact_ = now;
  reset_timer(now);
  return LeaderVerdict::kFollow;
}

VoteDecision Election::on_vote_request(const std::string& candidate, uint64_t term, TimePoint now) {
  VoteDecision d;
  if (term < term_) return d;
  // Raft's disruption guard: while a leader is demonstrably alive, a vote request does not even raise our term.
  if (term > term_ && (role_ == Role::kLeader || (role_ == Role::kFollower && leader_fresh(now)))) {
    d.ignored = true;
    return d;
  }
  d.state_changed = observe_term(term, now);
  if (role_ == Role::kFollower && (voted_for_.empty() || voted_for_ == candidate)) {
    if (voted_for_ != candidate) d.state_changed = true;
    voted_for_ = candidate;
    d.granted = true;
    reset_timer(now);
  }
  return d;
}

bool Election::on_vote_reply(const std::string& voter, uint64_t term, bool granted, size_t quorum) {
  if (role_ != Role::kCandidate || term != term_ || !granted) return false;
  votes_.insert(voter);
  if (votes_.size() >= quorum) {
    role_ = Role::kLeader;
    leader_ = self_;
    LL_INFO("term " << term_ << ": elected leader with " << votes_.size() << " of quorum " << quorum);
    return true;
  }
  return false;
}

bool Election::on_prevote_request(uint64_t term, TimePoint now) const {
  // Would we vote for this member in term + 1? Not while we lead or follow a live leader (stickiness).
  return term >= term_ && role_ != Role::kLeader && !leader_fresh(now);
}

bool Election::on_prevote_reply(const std::string& voter, uint64_t asked_term, bool granted, size_t quorum,
                                TimePoint now) {
  if (!prevoting_ || asked_term != term_ || !granted) return false;
  prevotes_.insert(voter);
  if (prevotes_.size() < quorum) return false;
  start_election(now, quorum);
  return true;
}

TickAction Election::tick(TimePoint now, size_t quorum) {
  if (role_ == Role::kLeader || now < deadline_) return TickAction::kNone;
  reset_timer(now);
  leader_.clear();
  if (quorum <= 1) {
    start_election(now, quorum);
    return TickAction::kElection;
  }
  // Pre-vote (Raft thesis 9.6): a member that cannot win (cut off, in a minority) never raises its term.
  prevoting_ = true;
  prevotes_.clear();
  prevotes_.insert(self_);
  LL_DEBUG("term " << term_ << ": pre-vote for term " << term_ + 1 << " (quorum " << quorum << ")");
  return TickAction::kPreVote;
}

void Election::start_election(TimePoint now, size_t quorum) {
  prevoting_ = false;
  ++term_;
  voted_for_ = self_;
  leader_.clear();
  role_ = Role::kCandidate;
  votes_.clear();
  votes_.insert(self_);
  reset_timer(now);
  LL_INFO("term " << term_ << ": starting election (quorum " << quorum << ")");
  if (votes_.size() >= quorum) {
    role_ = Role::kLeader;
    leader_ = self_;
    LL_INFO("term " << term_ << ": elected leader alone (quorum 1)");
  }
}

bool Election::check_quorum(size_t heard_recently, size_t quorum, TimePoint now) {
  if (role_ != Role::kLeader || heard_recently >= quorum) return false;
  LL_WARN("term " << term_ << ": heard from " << heard_recently << " of quorum " << quorum
                  << " members recently; stepping down");
  leader_.clear();
  become_follower(now);
  return true;
}

void Election::leader_gone(TimePoint now, size_t rank) {
  if (role_ == Role::kLeader) return;
  leader_.clear();
  // Run soon, in rank order with a little jitter inside each slot; slots do not overlap.
  const int64_t slot = std::max<int64_t>(2, timing_.election_min.count() / 8);
  const int64_t jitter = std::uniform_int_distribution<int64_t>(0, slot / 2)(rng_);
  deadline_ = now + Duration(static_cast<int64_t>(std::min<size_t>(rank, 16)) * slot + jitter);
}

}  // namespace ll::cluster
