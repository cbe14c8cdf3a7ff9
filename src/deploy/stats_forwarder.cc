#include "deploy/stats_forwarder.h"

#include "net/curve.h"

namespace ll::deploy {

StatsForwarder::StatsForwarder() = default;

StatsForwarder::~StatsForwarder() {
  std::lock_guard<std::mutex> lock(mutex_);
  socket_.reset();  // before the context
}

void StatsForwarder::send(const std::string& leader_endpoint, const proto::StepStatsMsg& message) {
  auto frames = proto::encode_data_message(message);
  if (!frames) return;
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    if (!socket_ || endpoint_ != leader_endpoint) {
      socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
      net::secure_client(*socket_);
      socket_->set(zmq::sockopt::linger, 0);
      socket_->set(zmq::sockopt::sndhwm, 64);  // a leader that does not read does not grow this device's memory
      socket_->connect(leader_endpoint);
      endpoint_ = leader_endpoint;
    }
    for (size_t i = 0; i < frames->size(); ++i) {
      const auto flags =
          i + 1 < frames->size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait : zmq::send_flags::dontwait;
      if (!socket_->send(zmq::buffer((*frames)[i]), flags)) return;  // full (the leader is slow or gone): dropped
    }
  } catch (const zmq::error_t&) {
    // Dropped: the next step's figures follow.
  }
}

}  // namespace ll::deploy
