// Election state machine alone: votes, terms, stickiness, quorum.
#include <catch2/catch.hpp>

#include "cluster/election.h"
#include "cluster/membership.h"
#include "cluster/state_store.h"
#include "common/log.h"

using namespace std::chrono_literals;
using ll::cluster::Election;
using ll::cluster::LeaderVerdict;
using ll::cluster::Role;

namespace {
ll::TimePoint t0() { return ll::TimePoint(ll::Duration(1'000'000'000)); }
}  // namespace

TEST_CASE("a member votes at most once per term", "[election]") {
  ll::set_log_level(ll::LogLevel::kError);
  Election e("a", {}, 1, {}, t0());
  CHECK(e.on_vote_request("b", 1, t0()).granted);
  CHECK(e.voted_for() == "b");
  CHECK_FALSE(e.on_vote_request("c", 1, t0()).granted);
  CHECK(e.on_vote_request("b", 1, t0()).granted);  // a repeated request gets the same answer
  CHECK(e.on_vote_request("c", 2, t0()).granted);  // a new term, a new vote
}

TEST_CASE("stale terms are rejected", "[election]") {
  Election e("a", {}, 1, {5, ""}, t0());
  CHECK_FALSE(e.on_vote_request("b", 4, t0()).granted);
  CHECK(e.on_leader_heartbeat("b", 4, t0()) == LeaderVerdict::kStale);
  CHECK(e.leader().empty());
  CHECK_FALSE(e.observe_term(3, t0()));
  CHECK(e.term() == 5);
}

TEST_CASE("a candidate needs a majority of the known members", "[election]") {
  Election e("a", {}, 1, {}, t0());
  REQUIRE(e.tick(t0() + 3s, 2) == ll::cluster::TickAction::kPreVote);  // three known members: a quorum of two
  CHECK(e.term() == 0);                                                // a pre-vote changes no term
  CHECK_FALSE(e.on_prevote_reply("b", 0, false, 2, t0() + 3s));
  REQUIRE(e.on_prevote_reply("b", 0, true, 2, t0() + 3s));
  CHECK(e.role() == Role::kCandidate);
  CHECK(e.term() == 1);
  CHECK(e.voted_for() == "a");
  CHECK_FALSE(e.on_vote_reply("b", 1, false, 2));
  CHECK_FALSE(e.on_vote_reply("b", 0, true, 2));  // a vote for another term does not count
  CHECK(e.on_vote_reply("b", 1, true, 2));
  CHECK(e.role() == Role::kLeader);
  CHECK(e.leader() == "a");
}

TEST_CASE("a single known member elects itself", "[election]") {
  Election e("solo", {}, 1, {}, t0());
  REQUIRE(e.tick(t0() + 3s, 1) == ll::cluster::TickAction::kElection);
  CHECK(e.role() == Role::kLeader);
}

TEST_CASE("a leader seeing a higher term steps down", "[election]") {
  Election e("a", {}, 1, {}, t0());
  REQUIRE(e.tick(t0() + 3s, 1) == ll::cluster::TickAction::kElection);
  REQUIRE(e.role() == Role::kLeader);
  CHECK(e.observe_term(7, t0() + 4s));
  CHECK(e.role() == Role::kFollower);
  CHECK(e.voted_for().empty());
}

TEST_CASE("two leaders in one term (merged clusters) make the leader step down", "[election]") {
  Election e("a", {}, 1, {}, t0());
  REQUIRE(e.tick(t0() + 3s, 1) == ll::cluster::TickAction::kElection);
  CHECK(e.on_leader_heartbeat("b", e.term(), t0() + 4s) == LeaderVerdict::kConflict);
  CHECK(e.role() == Role::kFollower);
}

TEST_CASE("while the leader is fresh, vote requests do not disturb (stickiness)", "[election]") {
  Election e("a", {}, 1, {3, ""}, t0());
  REQUIRE(e.on_leader_heartbeat("l", 3, t0()) == LeaderVerdict::kFollow);
  auto d = e.on_vote_request("x", 9, t0() + 500ms);
  CHECK(d.ignored);
  CHECK(e.term() == 3);
  d = e.on_vote_request("x", 9, t0() + 5s);  // the leader has gone quiet
  CHECK(d.granted);
  CHECK(e.term() == 9);
}

TEST_CASE("pre-votes are refused while a leader is fresh, by a leader, and for stale terms", "[election]") {
  Election e("a", {}, 1, {3, ""}, t0());
  CHECK(e.on_prevote_request(3, t0()));        // no leader known
  CHECK_FALSE(e.on_prevote_request(2, t0()));  // behind us
  REQUIRE(e.on_leader_heartbeat("l", 3, t0()) == LeaderVerdict::kFollow);
  CHECK_FALSE(e.on_prevote_request(3, t0() + 1s));
  CHECK(e.on_prevote_request(3, t0() + 2s));  // past the stickiness window (0.7 x 2.1 s)
  CHECK(e.term() == 3);
  CHECK(e.voted_for().empty());  // granting a pre-vote records nothing
}

TEST_CASE("a cut-off member keeps its term: failed pre-votes never raise it", "[election]") {
  Election e("a", {}, 1, {4, ""}, t0());
  for (int i = 1; i <= 10; ++i)
    CHECK(e.tick(t0() + std::chrono::seconds(3 * i), 2) == ll::cluster::TickAction::kPreVote);
  CHECK(e.term() == 4);
}

TEST_CASE("a leader that hears from less than a quorum steps down", "[election]") {
  Election e("a", {}, 1, {}, t0());
  REQUIRE(e.tick(t0() + 3s, 1) == ll::cluster::TickAction::kElection);
  CHECK_FALSE(e.check_quorum(2, 2, t0() + 4s));
  CHECK(e.check_quorum(1, 2, t0() + 5s));
  CHECK(e.role() == Role::kFollower);
}

TEST_CASE("membership moves alive -> suspect -> dead and counts the quorum", "[membership]") {
  ll::cluster::Membership m("a", "inproc://a", 1500ms, 3s);
  m.add_seed("inproc://b");
  m.add_seed("inproc://a");  // ourselves: ignored
  CHECK(m.known_count() == 2);
  CHECK(m.quorum() == 2);
  REQUIRE(m.heard_from("b", "inproc://b", "", t0()) != nullptr);
  CHECK(m.unresolved_seeds().empty());
  CHECK(m.known_count() == 2);
  m.update_states(t0() + 1s);
  CHECK(m.find("b")->state == ll::cluster::PeerState::kAlive);
  m.update_states(t0() + 2s);
  CHECK(m.find("b")->state == ll::cluster::PeerState::kSuspect);
  auto changes = m.update_states(t0() + 4s);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].to == ll::cluster::PeerState::kDead);
  CHECK(m.known_count() == 2);  // dead members still count: no quorum shrinking behind a partition
  CHECK(m.learn("c", "inproc://c"));
  CHECK(m.known_count() == 3);
  m.mark_left("c");
  CHECK(m.known_count() == 2);
  CHECK_FALSE(m.learn("c", "inproc://c"));  // gossip does not resurrect a member that left
}

TEST_CASE("the term and vote survive a restart through the state store", "[store]") {
  char tmpl[] = "/tmp/ll-store-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ll::cluster::StateStore store(dir);
  REQUIRE(store.load().ok());
  CHECK(store.load()->term == 0);
  REQUIRE(store.save({42, "b"}).ok());
  auto loaded = store.load();
  REQUIRE(loaded.ok());
  CHECK(loaded->term == 42);
  CHECK(loaded->voted_for == "b");
  FILE* f = std::fopen(store.path().c_str(), "w");
  std::fputs("{\"term\": -1}", f);
  std::fclose(f);
  CHECK_FALSE(store.load().ok());  // a corrupt file is an error, not term 0
}
