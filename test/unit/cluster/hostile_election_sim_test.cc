// Election and membership fuzzed by a hostile member (hostile_peer.h) on simulated time: whatever well-formed
// messages it sends, never two honest leaders in one term, and once it stops, a leader again within the election
// bound of docs/cluster.md ("Terms and their bound").
#include <catch2/catch.hpp>

#include "hostile_peer.h"
#include "sim_cluster.h"

using namespace std::chrono_literals;
using ll::test::HostilePeer;
using ll::test::SimCluster;

namespace {

// docs/cluster.md: after a hostile member stops, the members it was disturbing elect a leader within this much
// simulated time: three maximum election timeouts (its last heartbeats keep followers sticky for up to one; then a
// pre-vote and a vote, at worst one split vote more, and one of margin).
constexpr ll::Duration kElectionBound = 3 * ll::cluster::ElectionTiming{}.election_max;

struct Outcome {
  ll::Duration took{-1};
  uint64_t max_term = 0;
};

Outcome fuzz_one(uint64_t seed, int honest, int invented, ll::Duration hostile_for) {
  SimCluster sim(honest, seed);
  for (ll::Duration t{0}; t < 10s && !sim.converged(); t += 10ms) sim.step();
  REQUIRE(sim.converged());
  std::vector<std::string> targets, names;
  for (int i = 0; i < honest; ++i) {
    targets.push_back(SimCluster::endpoint(i));
    names.push_back(sim.name(i));
  }
  std::vector<std::string> identities{"h0"};
  for (int k = 0; k < invented; ++k) identities.push_back("ghost" + std::to_string(k));
  HostilePeer hostile(sim.hub(), seed * 7919 + 1, targets, identities, names);
  std::mt19937_64 rng(seed);
  for (ll::Duration t{0}; t < hostile_for; t += 10ms) {
    hostile.act(static_cast<int>(rng() % 6));
    sim.step();
    INFO("seed " << seed << " at " << ll::to_ms(t) << " ms of hostile input");
    REQUIRE(sim.safe());
  }
  Outcome out;
  for (ll::Duration t{0}; t < 60s; t += 10ms) {  // the hostile member is silent from now on
    sim.step();
    REQUIRE(sim.safe());
    if (sim.converged()) {
      out.took = t + 10ms;
      break;
    }
  }
  for (int i = 0; i < honest; ++i) out.max_term = std::max(out.max_term, sim.node(i)->term());
  return out;
}

}  // namespace

TEST_CASE("HostileMemberNeverMakesTwoLeadersInATermAndALeaderFollowsWithinTheBound", "[cluster][election][hostile]") {
  ll::Duration worst{0};
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    const int honest = 3 + static_cast<int>(seed % 3);  // 3, 4 or 5 honest members
    const int invented = honest == 3 ? 0 : 1;           // the honest members keep a majority of the known ones
    const Outcome o = fuzz_one(seed, honest, invented, std::chrono::milliseconds(2000 + 200 * (seed % 20)));
    INFO("seed " << seed << ": " << honest << " honest members, leader again after " << ll::to_ms(o.took)
                 << " ms, highest term " << o.max_term);
    REQUIRE(o.took > 0s);
    CHECK(o.took <= kElectionBound);
    CHECK(o.max_term >= uint64_t{1} << 20);          // the hostile terms did move the honest ones...
    CHECK(o.max_term < ll::proto::kMaxTerm / 1024);  // ...but nowhere near the bound
    worst = std::max(worst, o.took);
  }
  WARN("worst time to a leader after the hostile input stopped: " << ll::to_ms(worst) << " ms");
}

TEST_CASE("MemberRestartedWithTermZeroCatchesUpWithTermsAHostileMemberPushedPastOneBudget",
          "[cluster][election][hostile]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SimCluster sim(3, seed);
    for (ll::Duration t{0}; t < 10s && !sim.converged(); t += 10ms) sim.step();
    REQUIRE(sim.converged());
    HostilePeer hostile(sim.hub(), seed, {SimCluster::endpoint(0), SimCluster::endpoint(1), SimCluster::endpoint(2)},
                        {"h0"}, {sim.name(0), sim.name(1), sim.name(2)});
    for (ll::Duration t{0}; t < 5s; t += 10ms) {
      hostile.act(5);
      sim.step();
    }
    for (ll::Duration t{0}; t < 60s && !sim.converged(); t += 10ms) sim.step();
    REQUIRE(sim.converged());
    const uint64_t cluster_term = sim.node(sim.leaders()[0])->term();
    const uint64_t burst = ll::cluster::ElectionTiming{}.term_rise_burst;
    INFO("seed " << seed << ": cluster term " << cluster_term);
    REQUIRE(cluster_term > burst);  // one message cannot bring a fresh member there
    const int restarted = (sim.leaders()[0] + 1) % 3;
    sim.start(restarted);  // no data directory: term 0
    REQUIRE(sim.node(restarted)->term() == 0);
    // It follows the leader at once and adopts the term over a few refills of its budget, without an election.
    for (ll::Duration t{0}; t < 120s && sim.node(restarted)->term() != cluster_term; t += 10ms) sim.step();
    CHECK(sim.node(restarted)->term() == cluster_term);
    // Adopting a term from a follower's heartbeat forgets the leader until its next heartbeat (a second).
    for (ll::Duration t{0}; t < 2s && !sim.converged(); t += 10ms) sim.step();
    CHECK(sim.converged());
    CHECK(sim.node(sim.leaders()[0])->term() == cluster_term);
    CHECK(sim.safe());
  }
}
