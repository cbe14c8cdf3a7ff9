// A node under hostile input over the in-process transport: it answers or drops, and keeps serving.
#include <catch2/catch.hpp>

#include "cluster/node.h"
#include "common/log.h"
#include "net/inproc_transport.h"
#include "proto/limits.h"

using namespace std::chrono_literals;

namespace {
struct Fixture {
  ll::ManualClock clock;
  ll::net::InprocHub hub{clock};
  ll::net::InprocTransport server{hub, "inproc://server"};
  ll::net::InprocTransport client{hub, "inproc://client"};
  std::unique_ptr<ll::cluster::Node> node;
  Fixture() {
    ll::set_log_level(ll::LogLevel::kError);
    ll::cluster::NodeConfig c;
    c.name = "server";
    node = std::make_unique<ll::cluster::Node>(c, server, clock);
    REQUIRE(node->start().ok());
  }
  // Sends frames, lets the node run, returns the decoded answer if any.
  std::optional<ll::proto::Envelope> ask(ll::net::Frames frames) {
    REQUIRE(client.send("inproc://server", std::move(frames)).ok());
    node->poll_once(0ms);
    auto in = client.receive(0ms);
    if (!in) return std::nullopt;
    auto d = ll::proto::decode_message(in->frames);
    REQUIRE(std::holds_alternative<ll::proto::Envelope>(d));
    return std::get<ll::proto::Envelope>(d);
  }
  std::string error_code(ll::net::Frames frames) {
    auto reply = ask(std::move(frames));
    if (!reply) return "(no reply)";
    if (reply->type != ll::proto::MessageType::kError) return "(not an error)";
    return reply->body.value("code", "");
  }
  bool still_serving() {
    auto reply = ask({R"({"v":1,"type":"get_status","term":0,"from":"llctl"})"});
    return reply && reply->type == ll::proto::MessageType::kStatus;
  }
};
}  // namespace

TEST_CASE("garbage, wrong versions, oversize and truncated tensors get error replies; serving goes on", "[node]") {
  Fixture f;
  REQUIRE(f.still_serving());
  CHECK(f.error_code({"\xff\x00garbage"}) == "malformed");
  CHECK(f.still_serving());
  CHECK(f.error_code({R"({"v":2,"type":"get_status","term":0,"from":"x"})"}) == "unsupported_version");
  CHECK(f.error_code({R"({"v":1,"type":"launch_missiles","term":0,"from":"x"})"}) == "unknown_type");
  CHECK(f.error_code({std::string(ll::proto::kMaxControlFrameBytes + 1, ' ')}) == "too_large");
  CHECK(f.error_code({std::string(10000, '[')}) == "malformed");
  // A probe whose tensor frame promises 1000 bytes and carries 10.
  std::string frame = "LLT1";
  frame += '\x06';
  frame += '\x01';
  frame += std::string(2, '\0');
  uint64_t n = 1000;
  for (int i = 0; i < 8; ++i) frame += static_cast<char>((n >> (8 * i)) & 0xff);
  frame += std::string(10, 'x');
  CHECK(
      f.error_code(
          {R"({"v":1,"type":"probe","term":0,"from":"x","endpoint":"inproc://client","cluster":"home","nonce":1,"sent_ns":1})",
           frame}) == "bad_tensor_frame");
  CHECK(f.error_code({R"({"v":1,"type":"get_status","term":0,"from":"x"})", "extra"}) == "unexpected_tensor");
  CHECK(f.error_code(
            {R"({"v":1,"type":"heartbeat","term":0,"from":"x","endpoint":"inproc://client","cluster":"home"})"}) ==
        "malformed");
  CHECK(f.still_serving());
}

TEST_CASE("a peer of another cluster is ignored", "[node]") {
  Fixture f;
  auto reply = f.ask({R"({"v":1,"type":"bye","term":5,"from":"x","endpoint":"inproc://client","cluster":"other"})"});
  CHECK_FALSE(reply.has_value());
  CHECK(f.node->term() == 0);  // its term was not adopted either
  CHECK(f.node->membership().members().empty());
}

TEST_CASE("replies carry the term and the devices table lists the node itself", "[node]") {
  Fixture f;
  auto reply = f.ask({R"({"v":1,"type":"get_devices","term":0,"from":"llctl"})"});
  REQUIRE(reply);
  REQUIRE(reply->type == ll::proto::MessageType::kDevices);
  auto body = ll::proto::DevicesBody::from_json(reply->body);
  REQUIRE(body.ok());
  REQUIRE(body->devices.size() == 1);
  CHECK(body->devices[0].state == "self");
  CHECK(body->self == "server");
}

TEST_CASE("another device using our name is ignored, not adopted", "[node]") {
  Fixture f;
  auto reply =
      f.ask({R"({"v":1,"type":"heartbeat","term":50,"from":"server","endpoint":"inproc://client","cluster":"home",)"
             R"("role":"leader","leader":"server","members":[],"links":{},"profile":{"name":"server",)"
             R"("endpoint":"inproc://client","memory_budget":0,"memory_free":0,"memory_total":0,"threads":0,)"
             R"("gflops_decode":0,"gflops_prefill":0,"profiled":false,"version":""}})"});
  CHECK_FALSE(reply.has_value());
  CHECK(f.node->term() == 0);
  CHECK(f.node->membership().members().empty());
}

TEST_CASE("a valid peer is learned from its heartbeat and its higher term adopted", "[node]") {
  Fixture f;
  auto reply =
      f.ask({R"({"v":1,"type":"heartbeat","term":5,"from":"peer","endpoint":"inproc://client","cluster":"home",)"
             R"("role":"leader","leader":"peer","members":[{"name":"third","endpoint":"inproc://third"}],"links":{},)"
             R"("profile":{"name":"peer","endpoint":"inproc://client","memory_budget":1024,"memory_free":0,)"
             R"("memory_total":0,"threads":2,"gflops_decode":1.5,"gflops_prefill":0,"profiled":true,"version":"x"}})"});
  CHECK(f.node->term() == 5);
  CHECK(f.node->leader() == "peer");
  CHECK(f.node->membership().known_count() == 3);  // us, peer, and 'third' by gossip
  REQUIRE(f.node->membership().find("peer") != nullptr);
  CHECK(f.node->membership().find("peer")->profile.memory_budget == 1024);
}

TEST_CASE("ClientOfAnotherVersionIsToldBothVersionsInOneLine", "[node][version]") {
  Fixture f;
  const int next = ll::proto::kProtocolVersion + 1;
  auto reply = f.ask({R"({"v":)" + std::to_string(next) + R"(,"type":"get_status","term":0,"from":"llctl"})"});
  REQUIRE(reply.has_value());
  REQUIRE(reply->type == ll::proto::MessageType::kError);
  const std::string message = reply->body.value("message", "");
  CHECK(reply->body.value("code", "") == "unsupported_version");
  CHECK(reply->body.value("in_reply_to", "") == "get_status");
  CHECK(message.find("'llctl' speaks lingualinked protocol version " + std::to_string(next) +
                     ", this program speaks version " + std::to_string(ll::proto::kProtocolVersion)) == 0);
  CHECK(message.find('\n') == std::string::npos);
  CHECK(f.still_serving());
}
