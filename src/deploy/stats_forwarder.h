// StatsForwarder: sends the head's step figures to the leader's deploy endpoint when the head is not the leader
// (the solver chooses the head, docs/placement.md), so that load balancing and calibration see every step wherever
// the head is. One-way and lossy by design: a figure that cannot be sent at once is dropped, never queued behind.
// Thread-safe (one mutex; called from the stage thread).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <zmq.hpp>

#include "proto/data_messages.h"

namespace ll::deploy {

class StatsForwarder {
 public:
  StatsForwarder();
  ~StatsForwarder();

  // Sends `message` to `leader_endpoint`, connecting (again) when the endpoint changed since the last call.
  void send(const std::string& leader_endpoint, const proto::StepStatsMsg& message);

 private:
  std::mutex mutex_;
  zmq::context_t context_{1};
  std::unique_ptr<zmq::socket_t> socket_;
  std::string endpoint_;
};

}  // namespace ll::deploy
