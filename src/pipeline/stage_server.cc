#include "pipeline/stage_server.h"

#include "net/zmq_transport.h"
#include "proto/limits.h"

namespace ll::pipeline {
namespace {

// How long an idle loop waits for a message before it looks at its timers again.
constexpr Duration kIdleWait = std::chrono::milliseconds(20);

const Clock& steady_clock() {
  static const SteadyClock clock;
  return clock;
}

}  // namespace

Result<std::unique_ptr<StageServer>> StageServer::start(const StageServerOptions& options) {
  net::ZmqOptions zo;
  zo.max_frame_bytes = proto::kMaxDataSocketFrameBytes;
  zo.high_water_mark = proto::kDataHighWaterMark;
  zo.immediate = false;  // the first activation to a stage is sent while its connection is still being made
  zo.watch_connections = false;
  zo.linger_ms = 0;
  zo.plane = "data";
  auto zmq = net::ZmqTransport::create(options.bind, zo);
  if (!zmq) return make_error("data plane: " + zmq.error());
  std::unique_ptr<net::Transport> transport = std::move(zmq).value();
  if (options.emulated_egress.active()) {
    transport = std::make_unique<EgressEmulatingTransport>(std::move(transport), options.emulated_egress, options.name);
  }
  std::unique_ptr<StageServer> server(new StageServer());
  server->loop_ = std::make_unique<StageLoop>(options, std::move(transport), steady_clock());
  server->thread_ = std::thread([s = server.get()] {
    while (!s->stopping_) s->loop_->turn(kIdleWait);
  });
  return server;
}

StageServer::~StageServer() { stop(); }

void StageServer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace ll::pipeline
