// The ZeroMQ transport on loopback with ephemeral ports, and the one-shot client.
#include <catch2/catch.hpp>
#include <future>
#include <zmq.hpp>

#include "client/request.h"
#include "net/beacon.h"
#include "net/zmq_transport.h"
#include "proto/limits.h"

using namespace std::chrono_literals;
using ll::net::ZmqTransport;

namespace {
std::optional<ll::net::Incoming> receive_within(ZmqTransport& t, ll::Duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = t.receive(50ms);
    if (m) return m;
  }
  return std::nullopt;
}
}  // namespace

TEST_CASE("zmq: peers exchange messages and answers come back on the dialler's connection", "[zmq]") {
  auto a = ZmqTransport::create("tcp://127.0.0.1:0");
  auto b = ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK((*a)->endpoint().rfind("tcp://127.0.0.1:", 0) == 0);
  CHECK((*a)->endpoint() != "tcp://127.0.0.1:0");
  // IMMEDIATE: the first sends may be refused until the connection is up; a peer retries on its next heartbeat.
  std::optional<ll::net::Incoming> got;
  for (int i = 0; i < 40 && !got; ++i) {
    (void)(*a)->send((*b)->endpoint(), {"hello", "frame2"});
    got = (*b)->receive(50ms);
  }
  REQUIRE(got);
  CHECK(got->frames == std::vector<std::string>{"hello", "frame2"});
  CHECK_FALSE(got->reply_route.empty());
  REQUIRE((*b)->reply(*got, {"welcome"}).ok());
  auto answer = receive_within(**a, 2s);
  REQUIRE(answer);
  CHECK(answer->frames[0] == "welcome");
  CHECK(answer->via_peer == (*b)->endpoint());
}

TEST_CASE("zmq: a send to an endpoint nobody listens on fails at once instead of queueing", "[zmq]") {
  auto a = ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(a.ok());
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE((*a)->send("tcp://127.0.0.1:1", {"x"}).ok());
  CHECK(std::chrono::steady_clock::now() - start < 500ms);
}

TEST_CASE("zmq: a frame over ZMQ_MAXMSGSIZE drops that connection only", "[zmq]") {
  auto server = ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(server.ok());
  zmq::context_t ctx(1);
  zmq::socket_t bad(ctx, zmq::socket_type::dealer);
  bad.set(zmq::sockopt::linger, 0);
  bad.connect((*server)->endpoint());
  bad.send(zmq::buffer(std::string(ll::proto::kMaxSocketFrameBytes + 1, 'x')), zmq::send_flags::none);
  CHECK_FALSE(receive_within(**server, 500ms));
  // Others are still served.
  auto reply =
      std::async(std::launch::async, [&] { return ll::client::request_reply((*server)->endpoint(), {"ping"}, 3s); });
  auto in = receive_within(**server, 3s);
  REQUIRE(in);
  CHECK(in->frames[0] == "ping");
  REQUIRE((*server)->reply(*in, {"pong"}).ok());
  auto r = reply.get();
  REQUIRE(r.ok());
  CHECK((*r)[0] == "pong");
}

TEST_CASE("zmq: a REQ-style empty delimiter is echoed in the reply", "[zmq]") {
  auto server = ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(server.ok());
  zmq::context_t ctx(1);
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.connect((*server)->endpoint());
  req.send(zmq::buffer(std::string("q")), zmq::send_flags::none);
  auto in = receive_within(**server, 3s);
  REQUIRE(in);
  CHECK(in->delimiter);
  CHECK(in->frames == std::vector<std::string>{"q"});
  REQUIRE((*server)->reply(*in, {"a"}).ok());
  zmq::message_t m;
  req.set(zmq::sockopt::rcvtimeo, 3000);
  REQUIRE(req.recv(m));
  CHECK(m.to_string() == "a");
}

TEST_CASE("zmq client: an unreachable daemon is an error naming the endpoint, in bounded time", "[zmq]") {
  const auto start = std::chrono::steady_clock::now();
  auto r = ll::client::request_reply("tcp://127.0.0.1:1", {"x"}, 300ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("tcp://127.0.0.1:1") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("beacons: round trip, and anything else is refused", "[beacon]") {
  ll::net::BeaconInfo info{"home", "pi4", "tcp://192.168.1.20:7700"};
  auto back = ll::net::decode_beacon(ll::net::encode_beacon(info));
  REQUIRE(back.ok());
  CHECK(back->name == "pi4");
  CHECK(back->endpoint == "tcp://192.168.1.20:7700");
  CHECK_FALSE(ll::net::decode_beacon("hello").ok());
  CHECK_FALSE(
      ll::net::decode_beacon("LLB1 {\"v\":2,\"cluster\":\"home\",\"name\":\"x\",\"endpoint\":\"tcp://a:1\"}").ok());
  CHECK_FALSE(
      ll::net::decode_beacon("LLB1 {\"v\":1,\"cluster\":\"home\",\"name\":\"x y\",\"endpoint\":\"tcp://a:1\"}").ok());
  CHECK_FALSE(
      ll::net::decode_beacon("LLB1 {\"v\":1,\"cluster\":\"home\",\"name\":\"x\",\"endpoint\":\"ipc:///tmp/s\"}").ok());
  CHECK_FALSE(ll::net::decode_beacon("LLB1 " + std::string(600, ' ')).ok());
  CHECK_FALSE(ll::net::decode_beacon("LLB1 [[[[[[[[[[]]]]]]]]]]").ok());
}

TEST_CASE("zmq: a peer whose process is gone is reported unreachable; a live one is not", "[zmq][watch]") {
  auto a = ZmqTransport::create("tcp://127.0.0.1:0");
  auto b = ZmqTransport::create("tcp://127.0.0.1:0");
  auto c = ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE((a.ok() && b.ok() && c.ok()));
  const std::string b_endpoint = (*b)->endpoint(), c_endpoint = (*c)->endpoint();
  for (const auto& peer : {b_endpoint, c_endpoint}) {  // connections up: a message got through to each
    std::optional<ll::net::Incoming> got;
    for (int i = 0; i < 40 && !got; ++i) {
      (void)(*a)->send(peer, {"hello"});
      got = (peer == b_endpoint ? *b : *c)->receive(50ms);
    }
    REQUIRE(got);
  }
  b->reset();  // b's sockets close, as a killed process's do: its port now refuses connections
  std::vector<std::string> reported;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (reported.empty() && std::chrono::steady_clock::now() < deadline) {
    (void)(*a)->receive(20ms);
    reported = (*a)->take_unreachable();
  }
  CHECK(reported == std::vector<std::string>{b_endpoint});  // c, alive and connected, is not named
}
