// The in-process transport and its fault injector.
#include <catch2/catch.hpp>

#include "net/inproc_transport.h"

using namespace std::chrono_literals;
using ll::net::InprocHub;
using ll::net::InprocTransport;

TEST_CASE("in-process messages arrive in order and answers go back on the same route", "[inproc]") {
  ll::ManualClock clock;
  InprocHub hub(clock);
  InprocTransport a(hub, "inproc://a"), b(hub, "inproc://b");
  REQUIRE(a.send("inproc://b", {"1"}).ok());
  REQUIRE(a.send("inproc://b", {"2", "x"}).ok());
  auto m1 = b.receive(0ms);
  auto m2 = b.receive(0ms);
  REQUIRE(m1);
  REQUIRE(m2);
  CHECK(m1->frames[0] == "1");
  CHECK(m2->frames.size() == 2);
  REQUIRE(b.reply(*m1, {"answer"}).ok());
  auto r = a.receive(0ms);
  REQUIRE(r);
  CHECK(r->frames[0] == "answer");
  CHECK(r->via_peer == "inproc://b");
  CHECK_FALSE(a.send("inproc://nobody", {"x"}).ok());
}

TEST_CASE("a partition cuts both directions until healed", "[inproc][faults]") {
  ll::ManualClock clock;
  InprocHub hub(clock);
  InprocTransport a(hub, "inproc://a"), b(hub, "inproc://b"), c(hub, "inproc://c");
  hub.partition("inproc://a", "inproc://b");
  REQUIRE(a.send("inproc://b", {"x"}).ok());  // silently lost, like a real network
  REQUIRE(b.send("inproc://a", {"x"}).ok());
  REQUIRE(a.send("inproc://c", {"y"}).ok());
  CHECK_FALSE(b.receive(0ms));
  CHECK_FALSE(a.receive(0ms));
  CHECK(c.receive(0ms));
  CHECK(hub.stats().dropped_partition == 2);
  hub.heal();
  REQUIRE(a.send("inproc://b", {"x"}).ok());
  CHECK(b.receive(0ms));
}

TEST_CASE("split keeps groups apart and cuts off the unlisted", "[inproc][faults]") {
  ll::ManualClock clock;
  InprocHub hub(clock);
  InprocTransport a(hub, "inproc://a"), b(hub, "inproc://b"), c(hub, "inproc://c"), d(hub, "inproc://d");
  hub.split({{"inproc://a", "inproc://b"}, {"inproc://c"}});
  CHECK_FALSE(hub.blocked("inproc://a", "inproc://b"));
  CHECK(hub.blocked("inproc://a", "inproc://c"));
  CHECK(hub.blocked("inproc://c", "inproc://b"));
  CHECK(hub.blocked("inproc://d", "inproc://a"));
}

TEST_CASE("drop rate 1 drops everything; delays hold messages until the clock passes them", "[inproc][faults]") {
  ll::ManualClock clock;
  InprocHub hub(clock, 7);
  InprocTransport a(hub, "inproc://a"), b(hub, "inproc://b");
  hub.set_drop_rate(1.0);
  for (int i = 0; i < 10; ++i) REQUIRE(a.send("inproc://b", {"x"}).ok());
  CHECK_FALSE(b.receive(0ms));
  CHECK(hub.stats().dropped_random == 10);
  hub.set_drop_rate(0);
  hub.set_delay(100ms, 100ms);
  REQUIRE(a.send("inproc://b", {"late"}).ok());
  CHECK_FALSE(b.receive(0ms));
  clock.advance(99ms);
  CHECK_FALSE(b.receive(0ms));
  clock.advance(1ms);
  auto m = b.receive(0ms);
  REQUIRE(m);
  CHECK(m->frames[0] == "late");
}

TEST_CASE("a down endpoint neither sends nor receives and loses its queue", "[inproc][faults]") {
  ll::ManualClock clock;
  InprocHub hub(clock);
  InprocTransport a(hub, "inproc://a"), b(hub, "inproc://b");
  REQUIRE(a.send("inproc://b", {"queued"}).ok());
  hub.set_down("inproc://b", true);
  CHECK_FALSE(b.receive(0ms));
  REQUIRE(b.send("inproc://a", {"x"}).ok());
  CHECK_FALSE(a.receive(0ms));
  hub.set_down("inproc://b", false);
  CHECK_FALSE(b.receive(0ms));  // what was queued when it went down is gone
}
