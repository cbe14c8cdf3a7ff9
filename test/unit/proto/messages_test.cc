// Message envelope and bodies: encoding, validation, error codes.
#include <catch2/catch.hpp>
#include <random>

#include "proto/data_messages.h"
#include "proto/limits.h"
#include "proto/messages.h"

using namespace ll::proto;

namespace {
std::string code_of(const std::vector<std::string>& frames) {
  auto d = decode_message(frames);
  if (auto* e = std::get_if<ProtocolError>(&d)) return e->code;
  return "ok";
}

Envelope heartbeat() {
  HeartbeatBody hb;
  hb.role = "leader";
  hb.leader = "a";
  hb.profile.name = "a";
  hb.profile.endpoint = "tcp://127.0.0.1:7700";
  hb.profile.memory_budget = 1 << 30;
  hb.members = {{"a", "tcp://127.0.0.1:7700"}, {"b", "tcp://127.0.0.1:7701"}};
  hb.links["b"] = LinkStat{0.5, 120};
  Envelope e;
  e.type = MessageType::kHeartbeat;
  e.term = 7;
  e.from = "a";
  e.endpoint = "tcp://127.0.0.1:7700";
  e.cluster = "home";
  e.body = hb.to_json();
  return e;
}
}  // namespace

TEST_CASE("a heartbeat round-trips with its term and body", "[messages]") {
  auto frames = encode_message(heartbeat());
  REQUIRE(frames.ok());
  REQUIRE(frames->size() == 1);
  auto d = decode_message(*frames);
  REQUIRE(std::holds_alternative<Envelope>(d));
  const auto& e = std::get<Envelope>(d);
  CHECK(e.type == MessageType::kHeartbeat);
  CHECK(e.term == 7);
  CHECK(e.from == "a");
  CHECK(e.cluster == "home");
  auto body = HeartbeatBody::from_json(e.body);
  REQUIRE(body.ok());
  CHECK(body->role == "leader");
  CHECK(body->members.size() == 2);
  CHECK(body->links.at("b").bandwidth_mbps == 120);
  CHECK(body->profile.memory_budget == (1u << 30));
}

TEST_CASE("every message carries version, type, term and sender", "[messages]") {
  CHECK(code_of({R"({"type":"get_status","term":0,"from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"get_status","from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"get_status","term":0})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"term":0,"from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":"1","type":"get_status","term":0,"from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":2,"type":"get_status","term":0,"from":"x"})"}) == "unsupported_version");
  CHECK(code_of({R"({"v":1,"type":"nope","term":0,"from":"x"})"}) == "unknown_type");
  CHECK(code_of({R"({"v":1,"type":"get_status","term":0,"from":"x"})"}) == "ok");
}

TEST_CASE("terms beyond kMaxTerm (2^39) are refused, in the envelope and in every body", "[messages]") {
  CHECK(code_of({R"({"v":1,"type":"get_status","term":549755813888,"from":"x"})"}) == "ok");
  CHECK(code_of({R"({"v":1,"type":"get_status","term":549755813889,"from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"get_status","term":9007199254740992,"from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"get_status","term":18446744073709551615,"from":"x"})"}) == "malformed");
  auto reply = ll::proto::Json::parse(R"({"granted":true,"candidate":"a","pre":false,"asked_term":549755813888})");
  CHECK(ll::proto::VoteReplyBody::from_json(reply).ok());
  reply["asked_term"] = ll::proto::kMaxTerm + 1;
  CHECK_FALSE(ll::proto::VoteReplyBody::from_json(reply).ok());
  ll::proto::StatusBody status;
  status.self = "a";
  status.cluster = "c";
  status.term = ll::proto::kMaxTerm;
  CHECK(ll::proto::StatusBody::from_json(status.to_json()).ok());
  status.term = ll::proto::kMaxTerm + 1;
  CHECK_FALSE(ll::proto::StatusBody::from_json(status.to_json()).ok());
  ll::proto::DevicesBody devices;
  devices.self = "a";
  devices.term = ll::proto::kMaxTerm + 1;
  CHECK_FALSE(ll::proto::DevicesBody::from_json(devices.to_json()).ok());
}

TEST_CASE("peer messages also need a valid endpoint and cluster", "[messages]") {
  CHECK(code_of({R"({"v":1,"type":"bye","term":0,"from":"x"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"bye","term":0,"from":"x","endpoint":"tcp://h:1"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"bye","term":0,"from":"x","endpoint":"http://h:1","cluster":"c"})"}) == "malformed");
  CHECK(code_of({R"({"v":1,"type":"bye","term":0,"from":"x","endpoint":"tcp://h;rm:1","cluster":"c"})"}) ==
        "malformed");
  CHECK(code_of({R"({"v":1,"type":"bye","term":0,"from":"x","endpoint":"tcp://h:1","cluster":"c"})"}) == "ok");
}

TEST_CASE("size, depth and frame-count limits", "[messages]") {
  CHECK(code_of({}) == "malformed");
  CHECK(code_of({std::string(kMaxControlFrameBytes + 1, ' ')}) == "too_large");
  CHECK(code_of({std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']')}) == "malformed");
  CHECK(json_nesting_depth(R"({"a":"[[[[[[[[[[[[[[[[[[[[[[[["})") == 1);  // brackets inside strings do not count
  std::vector<std::string> many(2 + kMaxTensorFrames, "x");
  many[0] = R"({"v":1,"type":"get_status","term":0,"from":"x"})";
  CHECK(code_of(many) == "too_large");
  CHECK(code_of({R"({"v":1,"type":"get_status","term":0,"from":"x"})", "t"}) == "unexpected_tensor");
}

TEST_CASE("a probe needs exactly one u8 vector within the probe limit", "[messages]") {
  const std::string head =
      R"({"v":1,"type":"probe","term":0,"from":"x","endpoint":"tcp://h:1","cluster":"c","nonce":1,"sent_ns":2})";
  TensorFrame ok;
  ok.dtype = DType::kU8;
  ok.shape = {16};
  ok.data.assign(16, 'x');
  CHECK(code_of({head, *encode_tensor_frame(ok)}) == "ok");
  CHECK(code_of({head}) == "malformed");
  TensorFrame f32 = ok;
  f32.dtype = DType::kF32;
  f32.shape = {4};
  CHECK(code_of({head, *encode_tensor_frame(f32)}) == "bad_tensor_frame");
  TensorFrame big = ok;
  big.shape = {kMaxProbeBytes + 64};
  big.data.assign(kMaxProbeBytes + 64, 'x');
  CHECK(code_of({head, *encode_tensor_frame(big)}) == "too_large");
}

TEST_CASE("bodies reject mistyped or out-of-range fields", "[messages]") {
  Json hb = heartbeat().body;
  hb["role"] = "emperor";
  CHECK_FALSE(HeartbeatBody::from_json(hb).ok());
  hb = heartbeat().body;
  hb["profile"]["memory_budget"] = -1;
  CHECK_FALSE(HeartbeatBody::from_json(hb).ok());
  hb = heartbeat().body;
  hb["links"]["b"]["rtt_ms"] = -3;
  CHECK_FALSE(HeartbeatBody::from_json(hb).ok());
  hb = heartbeat().body;
  hb["members"] = Json::array();
  for (size_t i = 0; i <= kMaxMembers; ++i)
    hb["members"].push_back({{"name", "m" + std::to_string(i)}, {"endpoint", "tcp://h:1"}});
  CHECK_FALSE(HeartbeatBody::from_json(hb).ok());
  CHECK_FALSE(VoteReplyBody::from_json(Json{{"granted", 1}, {"candidate", "a"}}).ok());
  CHECK(VoteReplyBody::from_json(Json{{"granted", true}, {"candidate", "a"}, {"pre", false}, {"asked_term", 3}}).ok());
  CHECK_FALSE(VoteRequestBody::from_json(Json::object()).ok());
  CHECK(VoteRequestBody::from_json(VoteRequestBody{true}.to_json())->pre);
}

TEST_CASE("devices and status replies round-trip", "[messages]") {
  DevicesBody d;
  d.self = "a";
  d.leader = "b";
  d.term = 3;
  DeviceRow row;
  row.profile.name = "a";
  row.profile.endpoint = "tcp://h:1";
  row.role = "follower";
  row.state = "self";
  d.devices.push_back(row);
  d.links.push_back({"a", "b", {0.25, 900}});
  auto back = DevicesBody::from_json(d.to_json());
  REQUIRE(back.ok());
  CHECK(back->devices.size() == 1);
  CHECK(back->links[0].stat.rtt_ms == 0.25);
  StatusBody s;
  s.self = "a";
  s.cluster = "home";
  s.role = "leader";
  s.quorum = 2;
  auto sb = StatusBody::from_json(s.to_json());
  REQUIRE(sb.ok());
  CHECK(sb->quorum == 2);
}

TEST_CASE("names and endpoints are validated", "[messages]") {
  CHECK(valid_name("pi-4.kitchen_2"));
  CHECK_FALSE(valid_name(""));
  CHECK_FALSE(valid_name("a b"));
  CHECK_FALSE(valid_name(std::string(65, 'a')));
  CHECK(valid_endpoint("tcp://192.168.1.2:7700"));
  CHECK(valid_endpoint("tcp://[::1]:7700"));
  CHECK_FALSE(valid_endpoint("tcp://"));
  CHECK_FALSE(valid_endpoint("udp://h:1"));
  CHECK_FALSE(valid_endpoint("tcp://h:1\n"));
}

TEST_CASE("random and mutated control frames never crash the decoder", "[messages][fuzz]") {
  std::mt19937 rng(7);
  const std::string seed = *encode_message(heartbeat())->begin();
  for (int i = 0; i < 5000; ++i) {
    std::string s = seed;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < edits; ++k) s[rng() % s.size()] = static_cast<char>(rng());
    auto d = decode_message({s});
    if (auto* e = std::get_if<Envelope>(&d)) (void)HeartbeatBody::from_json(e->body);
  }
  SUCCEED();
}

namespace {
// A hello as a peer of protocol version `v` would send it: a valid version-1 hello with another `v`.
std::vector<std::string> hello_of_version(int v) {
  HelloBody hello;
  hello.profile.name = "b";
  hello.profile.endpoint = "tcp://127.0.0.1:7701";
  Envelope e;
  e.type = MessageType::kHello;
  e.from = "b";
  e.endpoint = "tcp://127.0.0.1:7701";
  e.cluster = "home";
  e.body = hello.to_json();
  auto frames = encode_message(e);
  REQUIRE(frames.ok());
  Json j = Json::parse((*frames)[0]);
  j["v"] = v;
  return {j.dump()};
}

ProtocolError refusal_of(const std::vector<std::string>& frames) {
  auto d = decode_message(frames);
  REQUIRE(std::holds_alternative<ProtocolError>(d));
  return std::get<ProtocolError>(d);
}
}  // namespace

TEST_CASE("HelloOfAnotherVersionIsRefusedNamingTheSenderAndBothVersions", "[messages][version]") {
  REQUIRE(std::holds_alternative<Envelope>(decode_message(hello_of_version(kProtocolVersion))));
  for (int other : {kProtocolVersion + 1, kProtocolVersion - 1, 99}) {
    const ProtocolError e = refusal_of(hello_of_version(other));
    INFO(e.message);
    CHECK(e.code == "unsupported_version");
    CHECK(e.in_reply_to == "hello");
    CHECK(e.message.rfind("'b' (tcp://127.0.0.1:7701) speaks lingualinked protocol version " + std::to_string(other) +
                              ", this program speaks version " + std::to_string(kProtocolVersion) + ": ",
                          0) == 0);
    CHECK(e.message.find('\n') == std::string::npos);
  }
}

TEST_CASE("RefusalFromADaemonOfAnotherVersionReadsAsARefusal", "[messages][version]") {
  // What llctl (or a daemon whose hello was refused) gets back from a daemon of the next version.
  const int next = kProtocolVersion + 1;
  const std::string reply = R"({"v":)" + std::to_string(next) +
                            R"(,"type":"error","term":4,"from":"board1","code":"unsupported_version",)"
                            R"("message":"whatever the next version says","in_reply_to":"get_status"})";
  const ProtocolError e = refusal_of({reply});
  CHECK(e.code == "unsupported_version");
  CHECK(e.message == "'board1' speaks lingualinked protocol version " + std::to_string(next) +
                         ", this program speaks version " + std::to_string(kProtocolVersion) +
                         ": run the same lingualinked release on every device and llctl (it answered "
                         "unsupported_version)");
}

TEST_CASE("MessageOfAnotherVersionWithoutReadableFieldsStillGetsOneLine", "[messages][version]") {
  const ProtocolError e = refusal_of({R"({"v":7,"type":"frobnicate","from":"not a name!","code":"x y"})"});
  CHECK(e.code == "unsupported_version");
  CHECK(e.in_reply_to.empty());  // an unknown type is not echoed
  CHECK(e.message.rfind("the sender speaks lingualinked protocol version 7,", 0) == 0);
  CHECK(e.message.find("answered") == std::string::npos);
}

TEST_CASE("a plan whose term is over kMaxTerm is refused by the device decoding it", "[messages]") {
  ll::proto::PlanMsg plan;
  plan.term = ll::proto::kMaxTerm;
  plan.leader_deploy_endpoint = "tcp://127.0.0.1:1";
  plan.manifest_json = "{}";
  plan.stages.push_back({"a", "tcp://127.0.0.1:2", "tcp://127.0.0.1:3", 0, 1, {}});
  auto frames = ll::proto::encode_data_message(plan);
  REQUIRE(frames.ok());
  CHECK(ll::proto::decode_data_message(*frames).ok());
  plan.term = ll::proto::kMaxTerm + 1;
  frames = ll::proto::encode_data_message(plan);
  REQUIRE(frames.ok());
  auto decoded = ll::proto::decode_data_message(*frames);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().find("term") != std::string::npos);
}

TEST_CASE("StageStatRowsTravelWithATokenSoPrefillStepsCanBeToldFromDecodeSteps", "[messages][calibration]") {
  ll::proto::TokenMsg token{7, 9, 12, 42, {{0, 1.5, 0.25, 1, 1}, {1, 30.0, 0, 1, 11}}};
  auto frames = ll::proto::encode_data_message(token);
  REQUIRE(frames.ok());
  auto decoded = ll::proto::decode_data_message(*frames);
  REQUIRE(decoded.ok());
  const auto* back = std::get_if<ll::proto::TokenMsg>(&*decoded);
  REQUIRE(back != nullptr);
  REQUIRE(back->stats.size() == 2);
  CHECK(back->stats[0].rows == 1);
  CHECK(back->stats[1].rows == 11);
  token.stats[1].rows = -1;
  frames = ll::proto::encode_data_message(token);
  REQUIRE(frames.ok());
  auto bad = ll::proto::decode_data_message(*frames);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("rows") != std::string::npos);
}

TEST_CASE("ProfileCarriesTheDaemonsResidentMemoryAndAnOlderPeerWithoutItParses", "[messages]") {
  Json hb = heartbeat().body;
  hb["profile"]["rss"] = 70000000;
  hb["profile"]["peak_rss"] = 170000000;
  auto body = HeartbeatBody::from_json(hb);
  REQUIRE(body.ok());
  CHECK(body->profile.rss == 70000000u);
  CHECK(body->profile.peak_rss == 170000000u);
  CHECK(body->profile.to_json()["rss"] == 70000000u);
  hb["profile"].erase("rss");
  hb["profile"].erase("peak_rss");
  auto older = HeartbeatBody::from_json(hb);
  REQUIRE(older.ok());
  CHECK(older->profile.rss == 0u);
  hb["profile"]["rss"] = -1;
  CHECK_FALSE(HeartbeatBody::from_json(hb).ok());
}

TEST_CASE("StepStatsFromAHeadThatIsNotTheLeaderRoundTripAndBadOnesAreRefused", "[messages][calibration]") {
  ll::proto::StepStatsMsg step{42, 7, {{0, 1.5, 0.25, 1, 1, 0}, {1, 30.0, 0, 2, 1, 0.5}}};
  auto frames = ll::proto::encode_data_message(step);
  REQUIRE(frames.ok());
  auto decoded = ll::proto::decode_data_message(*frames);
  REQUIRE(decoded.ok());
  const auto* back = std::get_if<ll::proto::StepStatsMsg>(&*decoded);
  REQUIRE(back != nullptr);
  CHECK(back->plan_version == 42);
  CHECK(back->session == 7);
  REQUIRE(back->stats.size() == 2);
  CHECK(back->stats[1].compute_ms == 30.0);
  CHECK(back->stats[1].batch == 2);
  step.stats[0].rows = -3;
  frames = ll::proto::encode_data_message(step);
  REQUIRE(frames.ok());
  CHECK_FALSE(ll::proto::decode_data_message(*frames).ok());
}
