// LinkEmulator: a slow uplink for the data plane on one machine, where `tc netem` is often missing. Every message a
// stage sends waits for the messages before it to leave the link (serialization: bytes / bandwidth, back to back,
// one queue for the whole device as on a real uplink), then flies for the one-way latency; the emulator's own
// thread delivers it on its own DEALER sockets at that time. Configured by lingualinkd --emulate-egress
// RATE,LATENCY (docs/benchmarks.md). LinkQueue is the pure timing rule; parse_link_shape reads the flag.
// Thread-safety: LinkQueue is a plain value (not thread-safe); LinkEmulator::send may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "lingualinked/result.h"
#include "net/transport.h"

namespace ll::pipeline {

struct LinkShape {
  double bandwidth_bytes_per_s = 0;  // 0: unlimited
  double latency_s = 0;              // one way
  bool active() const { return bandwidth_bytes_per_s > 0 || latency_s > 0; }
};

// "20Mbit,5ms", "2.5MB/s,300us", "1GiB/s,0", "0,3ms" (latency only). Rates: bit, kbit, Mbit, Gbit (per second,
// powers of 1000) or B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s; latencies: s, ms, us. "" = no emulation.
[[nodiscard]] Result<LinkShape> parse_link_shape(std::string_view text);

class LinkQueue {
 public:
  explicit LinkQueue(LinkShape shape) : shape_(shape) {}
  // When a message of `bytes` handed to the link at `now` arrives at the far end.
  [[nodiscard]] TimePoint admit(size_t bytes, TimePoint now);

 private:
  LinkShape shape_;
  TimePoint free_at_{};  // when the last admitted message has left the link
};

class LinkEmulator {
 public:
  // `context` must outlive the emulator.
  LinkEmulator(zmq::context_t& context, LinkShape shape, std::string name);
  ~LinkEmulator();  // drops what is still in flight
  LinkEmulator(const LinkEmulator&) = delete;
  LinkEmulator& operator=(const LinkEmulator&) = delete;

  // Queues a multipart message to a data endpoint; returns its size in bytes, or 0 if it was dropped because
  // kMaxInFlight messages are already waiting (as a full socket queue drops with dontwait).
  size_t send(const std::string& endpoint, std::vector<std::string> frames);
  static constexpr size_t kMaxInFlight = 10000;

 private:
  struct InFlight {
    TimePoint due;
    std::string endpoint;
    std::vector<std::string> frames;
  };
  void run();

  zmq::context_t& context_;
  const std::string name_;
  std::mutex mutex_;  // guards queue_, in_flight_, stopping_
  std::condition_variable wake_;
  LinkQueue queue_;
  std::deque<InFlight> in_flight_;  // due times never decrease: one FIFO link, constant latency
  bool stopping_ = false;
  std::thread thread_;
};

// A data-plane Transport whose sends leave through an emulated uplink (a LinkEmulator with ZeroMQ sockets of its
// own); receiving and replies go through `inner` unchanged. Same thread-safety as `inner`.
class EgressEmulatingTransport final : public net::Transport {
 public:
  EgressEmulatingTransport(std::unique_ptr<net::Transport> inner, LinkShape shape, std::string name);
  const std::string& endpoint() const override { return inner_->endpoint(); }
  Status send(const std::string& peer_endpoint, net::Frames frames) override;
  Status reply(const net::Incoming& to, net::Frames frames) override { return inner_->reply(to, std::move(frames)); }
  std::optional<net::Incoming> receive(Duration timeout) override { return inner_->receive(timeout); }
  void disconnect(const std::string& peer_endpoint) override { inner_->disconnect(peer_endpoint); }

 private:
  std::unique_ptr<net::Transport> inner_;
  zmq::context_t context_{1};
  LinkEmulator link_;  // after context_: its sockets close before the context ends
};

}  // namespace ll::pipeline
