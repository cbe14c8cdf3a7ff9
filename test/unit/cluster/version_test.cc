// The version handshake on the control plane (docs/protocol.md, "Versions"), on simulated time: a peer speaking
// another protocol version is refused with one line naming both versions, never becomes a member, and does not
// disturb the cluster; a daemon whose hello such a peer refuses does not take it in either.
#include <catch2/catch.hpp>

#include "proto/limits.h"
#include "proto/messages.h"
#include "sim_cluster.h"

using namespace std::chrono_literals;
using ll::proto::MessageType;

namespace {

const std::string kStranger = "inproc://stranger";

// A message as a daemon of protocol version `v` would send it: valid for version 1 but for `v`.
ll::net::Frames of_version(int v, MessageType type, ll::proto::Json body) {
  ll::proto::Envelope e;
  e.type = type;
  e.from = "stranger";
  e.endpoint = kStranger;
  e.cluster = "home";
  e.body = std::move(body);
  auto frames = ll::proto::encode_message(e);
  REQUIRE(frames.ok());
  auto j = ll::proto::Json::parse((*frames)[0]);
  j["v"] = v;
  (*frames)[0] = j.dump();
  return *frames;
}

ll::net::Frames hello_of_version(int v) {
  ll::proto::HelloBody hello;
  hello.profile.name = "stranger";
  hello.profile.endpoint = kStranger;
  return of_version(v, MessageType::kHello, hello.to_json());
}

bool anyone_knows_the_stranger(ll::test::SimCluster& sim) {
  for (int i = 0; i < sim.size(); ++i) {
    if (sim.node(i) != nullptr && sim.node(i)->membership().find("stranger") != nullptr) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("HelloOfAnotherVersionIsRefusedAndItsSenderNeverJoins", "[cluster][version]") {
  ll::test::SimCluster sim(3);
  sim.run_for(5s);
  REQUIRE(sim.converged());
  const std::string leader = sim.node(0)->leader();
  const uint64_t term = sim.node(0)->term();
  ll::net::InprocTransport stranger(sim.hub(), kStranger);
  const int other = ll::proto::kProtocolVersion + 1;

  // The stranger says hello to every member, once a second, for ten seconds (with a high term, which a member
  // would adopt from a message it read).
  int refusals = 0;
  for (int second = 0; second < 10; ++second) {
    for (int i = 0; i < sim.size(); ++i) {
      auto hello = hello_of_version(other);
      REQUIRE(stranger.send(ll::test::SimCluster::endpoint(i), hello).ok());
    }
    sim.run_for(1s);
    while (auto in = stranger.receive(0ms)) {
      auto reply = ll::proto::decode_message(in->frames);
      REQUIRE(std::holds_alternative<ll::proto::Envelope>(reply));  // the stranger's view, as version 1 reads it
      const auto& e = std::get<ll::proto::Envelope>(reply);
      REQUIRE(e.type == MessageType::kError);
      auto body = ll::proto::ErrorBody::from_json(e.body);
      REQUIRE(body.ok());
      CHECK(body->code == "unsupported_version");
      CHECK(body->in_reply_to == "hello");
      CHECK(body->message.find("'stranger' (inproc://stranger) speaks lingualinked protocol version " +
                               std::to_string(other) + ", this program speaks version " +
                               std::to_string(ll::proto::kProtocolVersion)) == 0);
      ++refusals;
    }
  }
  CHECK(refusals == 10 * sim.size());  // every hello answered (well under the refusal rate limit)
  CHECK_FALSE(anyone_knows_the_stranger(sim));
  CHECK(sim.converged());
  CHECK(sim.node(0)->leader() == leader);
  CHECK(sim.node(0)->term() == term);
}

TEST_CASE("HeartbeatOfAnotherVersionWithAHigherTermDoesNotDepose", "[cluster][version]") {
  ll::test::SimCluster sim(3);
  sim.run_for(5s);
  REQUIRE(sim.converged());
  const uint64_t term = sim.node(0)->term();
  ll::net::InprocTransport stranger(sim.hub(), kStranger);
  ll::proto::HeartbeatBody hb;
  hb.role = "leader";
  hb.leader = "stranger";
  hb.profile.name = "stranger";
  hb.profile.endpoint = kStranger;
  auto frames = of_version(ll::proto::kProtocolVersion + 1, MessageType::kHeartbeat, hb.to_json());
  auto j = ll::proto::Json::parse(frames[0]);
  j["term"] = term + 100;
  frames[0] = j.dump();
  for (int i = 0; i < sim.size(); ++i) REQUIRE(stranger.send(ll::test::SimCluster::endpoint(i), frames).ok());
  sim.run_for(3s);
  CHECK(sim.converged());
  CHECK(sim.node(0)->term() == term);  // a term is only adopted from a message that was read
  CHECK_FALSE(anyone_knows_the_stranger(sim));
}

TEST_CASE("SeedOfAnotherVersionRefusingOurHelloIsNotTakenIn", "[cluster][version]") {
  // A daemon configured with a seed that runs the next version: its hellos are answered with that version's refusal.
  ll::ManualClock clock;
  ll::net::InprocHub hub(clock);
  ll::net::InprocTransport own(hub, "inproc://own");
  ll::net::InprocTransport stranger(hub, kStranger);
  ll::cluster::NodeConfig c;
  c.name = "own";
  c.seeds = {kStranger};
  ll::cluster::Node node(c, own, clock);
  REQUIRE(node.start().ok());
  const int other = ll::proto::kProtocolVersion + 1;
  int hellos = 0;
  for (int step = 0; step < 500; ++step) {  // 5 s
    clock.advance(10ms);
    node.poll_once(0ms);
    while (auto in = stranger.receive(0ms)) {
      auto d = ll::proto::decode_message(in->frames);
      REQUIRE(std::holds_alternative<ll::proto::Envelope>(d));
      if (std::get<ll::proto::Envelope>(d).type != MessageType::kHello) continue;
      ++hellos;
      ll::proto::ErrorBody refusal{"unsupported_version", "protocol version 1 is not supported", "hello"};
      REQUIRE(stranger.reply(*in, of_version(other, MessageType::kError, refusal.to_json())).ok());
    }
  }
  CHECK(hellos >= 3);  // the seed is greeted again and again, as any silent seed
  CHECK(node.membership().find("stranger") == nullptr);
  CHECK(node.role() != ll::cluster::Role::kLeader);  // the seed still counts in the quorum of two
}
