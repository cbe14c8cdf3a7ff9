#include "cluster/election.h"

#include <algorithm>

#include "common/log.h"
#include "proto/limits.h"

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
  if (timing_.term_rise_refill.count() <= 0) timing_.term_rise_refill = std::chrono::hours(1);
  rise_tokens_ = timing_.term_rise_burst;
  rise_time_ = now;
  reset_timer(now);
}

uint64_t Election::rise_budget(TimePoint now) const {
  const uint64_t burst = timing_.term_rise_burst;
  const Duration elapsed = now - rise_time_;
  if (elapsed >= timing_.term_rise_refill) return burst;
  if (elapsed.count() <= 0) return rise_tokens_;
  const double refill = static_cast<double>(burst) * static_cast<double>(elapsed.count()) /
                        static_cast<double>(timing_.term_rise_refill.count());
  return std::min(burst, rise_tokens_ + static_cast<uint64_t>(refill));
}

bool Election::at_term_limit(TimePoint now) {
  if (term_ < proto::kMaxTerm) return false;
  if (now >= next_warning_) {
    next_warning_ = now + std::chrono::seconds(10);
    LL_ERROR("term " << term_ << " is at the limit (" << proto::kMaxTerm
                     << "): no election can start; stop every daemon of the cluster, delete election.json in each "
                        "data directory, and start them again");
  }
  return true;
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
  if (term <= term_ || term_ >= proto::kMaxTerm) return false;
  // Raising our term by much at once is what a member restarted with no state does, once; a member pushing it
  // again and again would walk it to the bound, where no election can start. The budget makes that take decades.
  const uint64_t budget = rise_budget(now);
  const uint64_t target = std::min({term, proto::kMaxTerm, term_ + budget});
  if (target < term && now >= next_warning_) {
    next_warning_ = now + std::chrono::seconds(10);
    LL_WARN("term " << term << " is " << term - term_ << " ahead of ours (" << term_
                    << "), more than the term rise budget allows now; moving to " << target);
  }
  if (target <= term_) return false;
  rise_tokens_ = budget - (target - term_);
  rise_time_ = now;
  term_ = target;
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
  if (term != term_) return d;  // too far ahead to adopt at once: a vote is only ever cast in a term we hold
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
  // Would we vote for this member in term + 1? Not while we lead or follow a live leader (stickiness), nor if we
  // could not adopt term + 1 (beyond the bound or our rise budget).
  if (term < term_ || term >= proto::kMaxTerm || term + 1 - term_ > rise_budget(now)) return false;
  return role_ != Role::kLeader && !leader_fresh(now);
}

bool Election::on_prevote_reply(const std::string& voter, uint64_t asked_term, bool granted, size_t quorum,
                                TimePoint now) {
  if (!prevoting_ || asked_term != term_ || !granted) return false;
  prevotes_.insert(voter);
  if (prevotes_.size() < quorum || at_term_limit(now)) return false;
  start_election(now, quorum);
  return true;
}

TickAction Election::tick(TimePoint now, size_t quorum) {
  if (role_ == Role::kLeader || now < deadline_) return TickAction::kNone;
  reset_timer(now);
  leader_.clear();
  if (at_term_limit(now)) return TickAction::kNone;
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
