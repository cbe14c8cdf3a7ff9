// Keys holding the wrong role against a running CURVE cluster. Hidden (tags [.client_key], [.impersonate]): run by
// test/integration/roles.sh with LL_KEYS naming the key to use, LL_TARGET a daemon's control endpoint,
// LL_DEPLOY_TARGET its deploy endpoint, LL_CLUSTER the cluster's name and LL_IMPERSONATE a real device's name.
// Each case sends on one connection and then asks get_status on the same one: ZeroMQ keeps a connection's order and
// the node handles a connection's messages in order, so the status answer comes after the hostile message was
// handled — no waiting by time.
#include <catch2/catch.hpp>

#include "proto/data_messages.h"
#include "proto/messages.h"
#include "unit/net/live_daemon.h"

using namespace std::chrono_literals;

namespace {

using ll::test::env;
using Connection = ll::test::LiveConnection;

void use_keys_from_env() { ll::test::use_keys(env("LL_KEYS")); }

ll::net::Frames encode(ll::proto::MessageType type, uint64_t term, const std::string& from, ll::proto::Json body) {
  ll::proto::Envelope e;
  e.type = type;
  e.term = term;
  e.from = from;
  e.endpoint = "tcp://127.0.0.1:9";
  e.cluster = env("LL_CLUSTER");
  e.body = std::move(body);
  auto frames = ll::proto::encode_message(e);
  REQUIRE(frames.ok());
  return *frames;
}

// The daemon's status, asked on `c` after whatever was sent on it before. Replies to earlier messages (an error,
// a welcome) are skipped.
ll::proto::StatusBody status_after(Connection& c) {
  c.send(encode(ll::proto::MessageType::kGetStatus, 0, "llctl", ll::proto::Json::object()));
  while (true) {
    auto reply = c.receive();
    REQUIRE_FALSE(reply.empty());
    auto decoded = ll::proto::decode_message(reply);
    REQUIRE(std::holds_alternative<ll::proto::Envelope>(decoded));
    const auto& e = std::get<ll::proto::Envelope>(decoded);
    if (e.type != ll::proto::MessageType::kStatus) continue;
    auto body = ll::proto::StatusBody::from_json(e.body);
    REQUIRE(body.ok());
    return *body;
  }
}

// The error code the daemon answers `frames` with on `c` ("(reply X)" for another answer).
std::string error_code_for(Connection& c, const ll::net::Frames& frames) {
  c.send(frames);
  auto reply = c.receive();
  if (reply.empty()) return "(no reply)";
  auto decoded = ll::proto::decode_message(reply);
  if (!std::holds_alternative<ll::proto::Envelope>(decoded)) return "(undecodable reply)";
  const auto& e = std::get<ll::proto::Envelope>(decoded);
  if (e.type != ll::proto::MessageType::kError) return std::string("(reply ") + ll::proto::type_name(e.type) + ")";
  return e.body.value("code", "");
}

std::string deploy_error_for(const ll::proto::DataMessage& message) {
  return ll::test::data_answer_code(env("LL_DEPLOY_TARGET"), message, 10s);
}

ll::proto::Json leader_heartbeat(const std::string& name) {
  ll::proto::HeartbeatBody hb;
  hb.role = "leader";
  hb.leader = name;
  hb.profile.name = name;
  hb.profile.endpoint = "tcp://127.0.0.1:9";
  return hb.to_json();
}

}  // namespace

TEST_CASE("a client's key takes no part in the cluster and changes nothing", "[.client_key]") {
  use_keys_from_env();
  Connection c(env("LL_TARGET"));
  const ll::proto::StatusBody before = status_after(c);
  REQUIRE(before.term > 0);
  // Peer messages: a heartbeat claiming leadership and a vote request, both of a far later term.
  c.send(encode(ll::proto::MessageType::kHeartbeat, before.term + 100, "evil", leader_heartbeat("evil")));
  c.send(encode(ll::proto::MessageType::kVoteRequest, before.term + 200, "evil", {{"pre", false}}));
  const ll::proto::StatusBody after = status_after(c);
  CHECK(after.term == before.term);
  CHECK(after.leader == before.leader);
  CHECK(after.members_known == before.members_known);
  // Operator calls.
  CHECK(error_code_for(c, encode(ll::proto::MessageType::kSetSpeed, 0, "llctl", {{"speed", 0.001}})) == "forbidden");
  CHECK(error_code_for(c, encode(ll::proto::MessageType::kRefreshProfile, 0, "llctl", ll::proto::Json::object())) ==
        "forbidden");
  CHECK(error_code_for(c, encode(ll::proto::MessageType::kLoad, 0, "llctl", {{"package", "/nonexistent"}})) ==
        "forbidden");
  // Reading is what a client may do.
  CHECK(error_code_for(c, encode(ll::proto::MessageType::kGetDevices, 0, "llctl", ll::proto::Json::object())) ==
        "(reply devices)");
  // Plans and shard files are between daemons.
  ll::proto::PlanMsg plan;
  plan.plan_version = ~uint64_t{0};
  plan.term = after.term;
  plan.manifest_json = "{}";
  plan.leader_deploy_endpoint = "tcp://127.0.0.1:9";
  ll::proto::PlanStage stage;
  stage.device = "evil";
  stage.data_endpoint = stage.deploy_endpoint = "tcp://127.0.0.1:9";
  plan.stages.push_back(stage);
  CHECK(deploy_error_for(plan) == "forbidden");
  ll::proto::FetchMsg fetch;
  fetch.sha256 = std::string(64, 'a');
  fetch.length = 16;
  CHECK(deploy_error_for(fetch) == "forbidden");
}

TEST_CASE("another device's key cannot speak in a device's name", "[.impersonate]") {
  use_keys_from_env();
  Connection c(env("LL_TARGET"));
  const ll::proto::StatusBody before = status_after(c);
  const std::string victim = env("LL_IMPERSONATE");
  c.send(encode(ll::proto::MessageType::kVoteRequest, before.term + 50, victim, {{"pre", false}}));
  c.send(encode(ll::proto::MessageType::kHeartbeat, before.term + 60, victim, leader_heartbeat(victim)));
  const ll::proto::StatusBody after = status_after(c);
  CHECK(after.term == before.term);
  CHECK(after.leader == before.leader);
}
