// The emulated uplink: its timing rule (serialization queued back to back, then latency), the flag's parser, and a
// real emulator delivering over ZeroMQ in order and never early.
#include <catch2/catch.hpp>
#include <chrono>
#include <zmq.hpp>

#include "pipeline/link_emulator.h"

using namespace ll;
using namespace ll::pipeline;
using namespace std::chrono_literals;

TEST_CASE("LinkQueueSerializesBackToBackThenAddsLatency", "[link]") {
  LinkQueue q(LinkShape{1e6, 0.005});  // 1 MB/s, 5 ms
  const TimePoint t0{std::chrono::seconds(100)};
  // 10 kB take 10 ms on the wire, then 5 ms of flight.
  CHECK(q.admit(10000, t0) == t0 + 15ms);
  // Handed over at the same time, the second waits for the first to leave the link: 20 ms + 5 ms.
  CHECK(q.admit(10000, t0) == t0 + 25ms);
  // Long after the link went idle, only its own serialization and the latency count.
  CHECK(q.admit(1000, t0 + 1s) == t0 + 1s + 1ms + 5ms);
}

TEST_CASE("LinkQueueWithoutBandwidthOnlyDelays", "[link]") {
  LinkQueue q(LinkShape{0, 0.003});
  const TimePoint t0{std::chrono::seconds(5)};
  CHECK(q.admit(100000000, t0) == t0 + 3ms);
  CHECK(q.admit(100000000, t0) == t0 + 3ms);
}

TEST_CASE("ParseLinkShapeReadsUnitsAndRejectsNonsense", "[link]") {
  auto a = parse_link_shape("20Mbit,5ms");
  REQUIRE(a.ok());
  CHECK(a->bandwidth_bytes_per_s == Approx(2.5e6));
  CHECK(a->latency_s == Approx(0.005));
  auto b = parse_link_shape("2.5MB/s,300us");
  REQUIRE(b.ok());
  CHECK(b->bandwidth_bytes_per_s == Approx(2.5e6));
  CHECK(b->latency_s == Approx(0.0003));
  auto c = parse_link_shape("0,3ms");
  REQUIRE(c.ok());
  CHECK(c->bandwidth_bytes_per_s == 0);
  CHECK(c->active());
  auto none = parse_link_shape("");
  REQUIRE(none.ok());
  CHECK_FALSE(none->active());
  for (const char* bad : {"20Mbit", "fast,5ms", "20Mbit,5", "20,5ms", "20furlongs,5ms", "-1Mbit,5ms", "20Mbit,1h",
                          "20Mbit,20s", "1bit,0", "nan,5ms", "inf Mbit,5ms"}) {
    INFO(bad);
    CHECK_FALSE(parse_link_shape(bad).ok());
  }
}

TEST_CASE("LinkEmulatorDeliversInOrderAndNotBeforeTheLinkWould", "[link]") {
  zmq::context_t context(1);
  zmq::socket_t sink(context, zmq::socket_type::router);
  sink.set(zmq::sockopt::linger, 0);
  sink.bind("tcp://127.0.0.1:*");
  const std::string endpoint = sink.get(zmq::sockopt::last_endpoint);
  {
    LinkEmulator link(context, LinkShape{1e6, 0.020}, "test");  // 1 MB/s, 20 ms
    const auto start = std::chrono::steady_clock::now();
    // Three 20 kB messages handed over at once: they can arrive no sooner than 40, 60 and 80 ms.
    for (int i = 0; i < 3; ++i) {
      CHECK(link.send(endpoint, {std::string(1, static_cast<char>('a' + i)), std::string(19999, 'x')}) == 20000);
    }
    sink.set(zmq::sockopt::rcvtimeo, 5000);
    for (int i = 0; i < 3; ++i) {
      zmq::message_t route, first, second;
      REQUIRE(sink.recv(route));
      REQUIRE(sink.recv(first));
      REQUIRE(sink.recv(second));
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      CHECK(first.to_string() == std::string(1, static_cast<char>('a' + i)));
      CHECK(second.size() == 19999);
      CHECK(ms >= 40.0 + 20.0 * i - 1.0);
    }
  }  // the emulator stops before the context ends
  sink.close();
}

TEST_CASE("LinkEmulatorBoundsWhatWaits", "[link]") {
  zmq::context_t context(1);
  LinkEmulator link(context, LinkShape{1000, 1.0}, "test");  // 1 kB/s: nothing leaves during the test
  size_t accepted = 0;
  for (size_t i = 0; i < LinkEmulator::kMaxInFlight + 5; ++i) accepted += link.send("tcp://127.0.0.1:1", {"x"}) > 0;
  CHECK(accepted == LinkEmulator::kMaxInFlight);
}
