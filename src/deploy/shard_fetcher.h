// ShardFetcher: pulls files by hash from the leader's data endpoint into the local ShardStore, in chunks, with a
// window of requests in flight (flow control: never more than `window` chunks unanswered), and reports progress.
// Thread-compatible: used by one deployment worker thread, with its own socket.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <zmq.hpp>

#include "lingualinked/result.h"
#include "pipeline/shard_store.h"
#include "proto/data_messages.h"

namespace ll::deploy {

struct FetchOptions {
  uint64_t chunk_bytes = 1u << 20;
  int window = 4;
  std::chrono::milliseconds stall_timeout{15000};  // no chunk for this long: give up
};

class ShardFetcher {
 public:
  ShardFetcher(zmq::context_t& context, const std::string& leader_endpoint, pipeline::ShardStore& store,
               FetchOptions options);

  // Fetches one file (expected_size 0: learn it from the first chunk). `on_bytes` sees each chunk's size.
  [[nodiscard]] Status fetch(const std::string& sha256, uint64_t expected_size,
                             const std::function<void(uint64_t)>& on_bytes, const std::atomic<bool>& cancel);
  // One-way message to the leader (load progress).
  void send(const proto::DataMessage& message);

 private:
  [[nodiscard]] Status request(const std::string& sha256, uint64_t offset, uint64_t length);
  [[nodiscard]] Result<proto::ChunkMsg> receive_chunk(const std::atomic<bool>& cancel);

  zmq::socket_t socket_;
  pipeline::ShardStore& store_;
  FetchOptions options_;
};

}  // namespace ll::deploy
