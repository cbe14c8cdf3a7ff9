// Link measurements: only our own nonces count, RTT smoothing, bandwidth from payload time.
#include <catch2/catch.hpp>

#include "cluster/link_meter.h"

using namespace std::chrono_literals;
using ll::cluster::LinkMeter;

namespace {
ll::TimePoint t(ll::Duration d) { return ll::TimePoint(ll::Duration(1'000'000'000) + d); }
}  // namespace

TEST_CASE("answers to unknown nonces or from another peer are ignored", "[links]") {
  LinkMeter m;
  m.issue("b", 1, 0, t(0ms));
  CHECK_FALSE(m.answer("b", 2, 0, t(1ms)));
  CHECK_FALSE(m.answer("c", 1, 0, t(1ms)));
  CHECK_FALSE(m.has_rtt("b"));
  CHECK(m.answer("b", 1, 0, t(2ms)));
  CHECK(m.has_rtt("b"));
  CHECK(m.stats().at("b").rtt_ms == Approx(2.0));
  CHECK_FALSE(m.answer("b", 1, 0, t(3ms)));  // a nonce answers once
}

TEST_CASE("bandwidth is the payload over the probe time minus the empty round trip", "[links]") {
  LinkMeter m;
  m.issue("b", 1, 0, t(0ms));
  REQUIRE(m.answer("b", 1, 0, t(2ms)));
  m.issue("b", 2, 1'000'000, t(10ms));
  REQUIRE(m.answer("b", 2, 1'000'000, t(22ms)));  // 12 ms round trip - 2 ms = 10 ms for 1 MB
  CHECK(m.stats().at("b").bandwidth_mbps == Approx(100.0));
  m.issue("b", 3, 1000, t(30ms));
  CHECK_FALSE(m.answer("b", 3, 999, t(31ms)));  // the peer must have received the whole payload
}

TEST_CASE("a probe barely slower than a ping is not credited with absurd bandwidth", "[links]") {
  LinkMeter m;
  m.issue("b", 1, 0, t(0ms));
  REQUIRE(m.answer("b", 1, 0, t(4ms)));
  m.issue("b", 2, 1'000'000, t(10ms));
  REQUIRE(m.answer("b", 2, 1'000'000, t(14ms)));  // no measurable payload time: capped at 4x the raw rate
  CHECK(m.stats().at("b").bandwidth_mbps == Approx(1000.0));
}

TEST_CASE("outstanding pings expire and are bounded", "[links]") {
  LinkMeter m;
  for (uint64_t i = 0; i < 10000; ++i) m.issue("b", i, 0, t(0ms));
  CHECK(m.outstanding() <= 256);
  m.expire(t(11s), 10s);
  CHECK(m.outstanding() == 0);
}

TEST_CASE("an emulated uplink caps the reported bandwidth and adds its latency both ways", "[links]") {
  LinkMeter m;
  m.set_emulated_egress(2.5, 5.0);  // 20 Mbit/s, 5 ms one way
  m.issue("b", 1, 0, t(0ms));
  REQUIRE(m.answer("b", 1, 0, t(2ms)));
  // Before a probe: the emulated bandwidth; the round trip gains 2 x 5 ms (the leader takes half as latency).
  CHECK(m.stats().at("b").bandwidth_mbps == Approx(2.5));
  CHECK(m.stats().at("b").rtt_ms == Approx(12.0));
  m.issue("b", 2, 1'000'000, t(10ms));
  REQUIRE(m.answer("b", 2, 1'000'000, t(22ms)));  // 100 MB/s measured on loopback
  CHECK(m.stats().at("b").bandwidth_mbps == Approx(2.5));
  m.set_emulated_egress(0, 0);
  CHECK(m.stats().at("b").bandwidth_mbps == Approx(100.0));
  CHECK(m.stats().at("b").rtt_ms == Approx(2.0));
}
