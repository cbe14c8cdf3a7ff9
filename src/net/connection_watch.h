// ConnectionWatch: tells, from the events of one outgoing connection, that the process behind it is gone — the
// connection dropped and a reconnect attempt was then refused — long before silence (the heartbeat timeout) would.
// A crashed or killed process closes its sockets at once and its port refuses new connections; a frozen process or
// a pulled cable shows neither, and is left to the heartbeats. Pure logic over the events, so it is tested without
// sockets. Not thread-safe: one owner.
#pragma once

namespace ll::net {

enum class ConnectionEvent {
  kConnected,      // a connection is up (TCP connected, or its security handshake succeeded)
  kDisconnected,   // an established connection dropped
  kRetryScheduled  // a reconnect was scheduled: right after a drop, and again after every attempt that failed
};

class ConnectionWatch {
 public:
  // Feeds one event; true exactly once per drop, when the peer is known to refuse connections.
  [[nodiscard]] bool on_event(ConnectionEvent event) {
    switch (event) {
      case ConnectionEvent::kConnected:
        connected_ = true;
        retries_since_drop_ = -1;
        return false;
      case ConnectionEvent::kDisconnected:
        if (connected_) retries_since_drop_ = 0;  // a drop of a connection that never came up is not news
        connected_ = false;
        return false;
      case ConnectionEvent::kRetryScheduled:
        if (retries_since_drop_ < 0) return false;
        // The first retry is scheduled by the drop itself; the second means an attempt after the drop failed.
        if (++retries_since_drop_ < 2) return false;
        retries_since_drop_ = -1;
        return true;
    }
    return false;
  }

 private:
  bool connected_ = false;
  int retries_since_drop_ = -1;  // -1: no drop pending
};

}  // namespace ll::net
