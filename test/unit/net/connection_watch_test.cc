// ConnectionWatch: which sequences of connection events mean "the process behind this address is gone".
#include "net/connection_watch.h"

#include <catch2/catch.hpp>

using ll::net::ConnectionEvent;
using ll::net::ConnectionWatch;

namespace {
int reports(ConnectionWatch& watch, std::initializer_list<ConnectionEvent> events) {
  int n = 0;
  for (ConnectionEvent e : events) n += watch.on_event(e) ? 1 : 0;
  return n;
}
}  // namespace

TEST_CASE("DropThenRefusedReconnectReportsOnce", "[net][watch]") {
  ConnectionWatch watch;
  CHECK(reports(watch, {ConnectionEvent::kConnected, ConnectionEvent::kDisconnected, ConnectionEvent::kRetryScheduled,
                        ConnectionEvent::kRetryScheduled}) == 1);
  // Further failed attempts are the same loss, not news.
  CHECK(reports(watch, {ConnectionEvent::kRetryScheduled, ConnectionEvent::kRetryScheduled}) == 0);
}

TEST_CASE("DropFollowedByReconnectIsNotALoss", "[net][watch]") {
  ConnectionWatch watch;
  CHECK(reports(watch, {ConnectionEvent::kConnected, ConnectionEvent::kDisconnected, ConnectionEvent::kRetryScheduled,
                        ConnectionEvent::kConnected, ConnectionEvent::kRetryScheduled}) == 0);
}

TEST_CASE("PeerNotUpYetIsNotALoss", "[net][watch]") {
  // Dialling a seed that has not started: retries without a connection ever having been up.
  ConnectionWatch watch;
  CHECK(reports(watch,
                {ConnectionEvent::kRetryScheduled, ConnectionEvent::kRetryScheduled, ConnectionEvent::kDisconnected,
                 ConnectionEvent::kRetryScheduled, ConnectionEvent::kRetryScheduled}) == 0);
}

TEST_CASE("SecondDropAfterReconnectReportsAgain", "[net][watch]") {
  ConnectionWatch watch;
  const auto loss = {ConnectionEvent::kConnected, ConnectionEvent::kDisconnected, ConnectionEvent::kRetryScheduled,
                     ConnectionEvent::kRetryScheduled};
  CHECK(reports(watch, loss) == 1);
  CHECK(reports(watch, loss) == 1);
}
