// Terms cannot brick elections: the bound (proto::kMaxTerm), the rise budget that stops a member from walking our
// term to it, and the persisted state refused at start when it is corrupt or absurd (docs/cluster.md, "Terms and
// their bound").
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "cluster/election.h"
#include "cluster/state_store.h"
#include "common/log.h"
#include "proto/limits.h"

using namespace std::chrono_literals;
using ll::cluster::Election;
using ll::cluster::ElectionTiming;
using ll::cluster::Role;
using ll::cluster::TickAction;
using ll::proto::kMaxTerm;

namespace {

ll::TimePoint t0() { return ll::TimePoint(ll::Duration(1'000'000'000)); }
const uint64_t kBurst = ElectionTiming{}.term_rise_burst;

// Runs one election of `e` alone against two granting peers; true if it made `e` leader in the next term.
bool wins_next_election(Election& e, ll::TimePoint now) {
  const uint64_t before = e.term();
  if (e.tick(now, 2) != TickAction::kPreVote) return false;
  if (!e.on_prevote_reply("b", before, true, 2, now)) return false;
  return e.on_vote_reply("b", before + 1, true, 2) && e.term() == before + 1;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/ll-terms-XXXXXX";
  return mkdtemp(tmpl);
}

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

}  // namespace

TEST_CASE("TermAtTheBoundInOneMessageIsNotAdoptedAndElectionsGoOn", "[election][terms]") {
  ll::set_log_level(ll::LogLevel::kError);
  Election e("a", {}, 1, {5, ""}, t0());
  CHECK(e.observe_term(kMaxTerm, t0()));
  CHECK(e.term() == 5 + kBurst);  // moved towards it by the budget only
  CHECK(e.role() == Role::kFollower);
  CHECK(wins_next_election(e, t0() + 10s));
  CHECK(e.term() < kMaxTerm);
}

TEST_CASE("TermWalkByRepeatedMessagesIsRateLimited", "[election][terms]") {
  ll::set_log_level(ll::LogLevel::kError);
  Election e("a", {}, 1, {}, t0());
  ll::TimePoint now = t0();
  for (int i = 0; i < 100000; ++i) {  // a hostile member sending a term one burst ahead of ours, 100 per second
    now += 10ms;
    (void)e.observe_term(std::min(kMaxTerm, e.term() + kBurst), now);
  }
  // 1000 s: the burst plus 1000/3600 of a burst of refill, not 100000 bursts.
  CHECK(e.term() <= kBurst + kBurst * 1000 / 3600 + 1);
  CHECK(e.term() >= kBurst);
  CHECK(wins_next_election(e, now + 10s));
}

TEST_CASE("RestartedMemberWithTermZeroCatchesUpEvenBeyondTheBurst", "[election][terms]") {
  ll::set_log_level(ll::LogLevel::kError);
  Election fresh("a", {}, 1, {}, t0());
  CHECK(fresh.observe_term(123456, t0()));  // an honest cluster's term: adopted at once
  CHECK(fresh.term() == 123456);
  // A cluster term three bursts ahead (years of elections): adopted over a few refills of the budget, in steps.
  Election far("b", {}, 1, {}, t0());
  const uint64_t cluster_term = 3 * kBurst + 17;
  ll::TimePoint now = t0();
  for (int hour = 0; hour < 4 && far.term() < cluster_term; ++hour) {
    (void)far.observe_term(cluster_term, now);
    CHECK(far.term() <= kBurst * static_cast<uint64_t>(hour + 1));
    now += 1h;
  }
  CHECK(far.term() == cluster_term);
  // While it catches up, a vote in a term it does not hold is never granted.
  Election behind("c", {}, 1, {}, t0());
  auto d = behind.on_vote_request("x", cluster_term, t0());
  CHECK_FALSE(d.granted);
  CHECK(d.state_changed);  // its term moved (to be persisted), with no vote
  CHECK(behind.voted_for().empty());
  CHECK(behind.term() == kBurst);
}

TEST_CASE("VoteRequestAtTheBoundIsNotGrantedNorAdopted", "[election][terms]") {
  ll::set_log_level(ll::LogLevel::kError);
  Election e("a", {}, 1, {7, ""}, t0());
  auto d = e.on_vote_request("h", kMaxTerm, t0());
  CHECK_FALSE(d.granted);
  CHECK(e.term() < kMaxTerm);
  CHECK(e.voted_for().empty());
}

TEST_CASE("PreVoteForATermWeCouldNotAdoptIsRefused", "[election][terms]") {
  ll::set_log_level(ll::LogLevel::kError);
  Election e("a", {}, 1, {7, ""}, t0());
  CHECK(e.on_prevote_request(7, t0()));
  CHECK(e.on_prevote_request(7 + kBurst - 1, t0()));  // term + 1 is within the budget
  CHECK_FALSE(e.on_prevote_request(7 + kBurst, t0()));
  CHECK_FALSE(e.on_prevote_request(kMaxTerm, t0()));  // term + 1 would be over the bound
  Election at_bound("b", {}, 1, {kMaxTerm - 1, ""}, t0());
  CHECK(at_bound.on_prevote_request(kMaxTerm - 1, t0()));
  CHECK_FALSE(at_bound.on_prevote_request(kMaxTerm, t0()));
}

TEST_CASE("AtTheBoundNoElectionStartsAndNoTermGoesOver", "[election][terms]") {
  ll::set_log_level(ll::LogLevel::kError);  // the limit's error line is expected
  Election e("a", {}, 1, {kMaxTerm, ""}, t0());
  CHECK(e.tick(t0() + 10s, 1) == TickAction::kNone);  // not even alone: term + 1 would be refused by every peer
  CHECK(e.tick(t0() + 20s, 3) == TickAction::kNone);
  CHECK(e.term() == kMaxTerm);
  CHECK(e.role() == Role::kFollower);
  CHECK_FALSE(e.observe_term(kMaxTerm, t0() + 21s));
}

// --- the persisted state --------------------------------------------------------------------------------------

TEST_CASE("PersistedTermOverTheBoundRefusesStartNamingTheFile", "[store][terms]") {
  const std::string dir = temp_dir();
  ll::cluster::StateStore store(dir);
  write_file(store.path(), "{\"term\": " + std::to_string(kMaxTerm + 1) + ", \"voted_for\": \"b\"}\n");
  auto loaded = store.load();
  REQUIRE_FALSE(loaded.ok());
  INFO(loaded.error());
  CHECK(loaded.error().find(store.path()) != std::string::npos);
  CHECK(loaded.error().find("over the limit") != std::string::npos);
  CHECK(loaded.error().find("delete it") != std::string::npos);  // says what to do
  CHECK(loaded.error().find('\n') == std::string::npos);
  write_file(store.path(), "{\"term\": " + std::to_string(kMaxTerm) + ", \"voted_for\": \"b\"}\n");
  CHECK(store.load().ok());  // the bound itself is a legal (if stuck) state
}

TEST_CASE("CorruptPersistedStateRefusesStartWithOneLineNamingTheFile", "[store][terms]") {
  const std::string dir = temp_dir();
  ll::cluster::StateStore store(dir);
  const char* bad[] = {
      "",                                             // empty (a crash between create and write on a bad disk)
      "{\"term\": 42, \"voted_fo",                    // truncated
      "{\"term\": -1}",                               // negative
      "{\"term\": 1.5}",                              // not an integer
      "{\"term\": \"42\"}",                           // a string
      "{\"term\": 1e30}",                             // huge
      "{\"term\": 18446744073709551616}",             // over 64 bits
      "{\"term\": 18446744073709551615}",             // 64 bits, over the bound
      "{\"voted_for\": \"b\"}",                       // no term
      "{\"term\": 3, \"voted_for\": \"../../etc\"}",  // not a name
      "[3, \"b\"]",                                   // not an object
      "\x7f\x45\x4c\x46\x02\x01\x01",                 // not text at all
  };
  for (const char* text : bad) {
    write_file(store.path(), text);
    auto loaded = store.load();
    INFO("file: " << text);
    REQUIRE_FALSE(loaded.ok());
    INFO(loaded.error());
    CHECK(loaded.error().find(store.path()) != std::string::npos);
    CHECK(loaded.error().find("will not start") != std::string::npos);
    CHECK(loaded.error().find('\n') == std::string::npos);
  }
  write_file(store.path(), std::string(5000, ' ') + "{\"term\": 1}");  // over the size limit
  CHECK_FALSE(store.load().ok());
  std::remove(store.path().c_str());
  REQUIRE(::mkdir(store.path().c_str(), 0700) == 0);  // not a file at all
  auto loaded = store.load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().find("not a regular file") != std::string::npos);
}
