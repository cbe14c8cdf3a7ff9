#include "deploy/shard_fetcher.h"

#include <algorithm>
#include <set>

#include "net/curve.h"

namespace ll::deploy {

ShardFetcher::ShardFetcher(zmq::context_t& context, const std::string& leader_endpoint, pipeline::ShardStore& store,
                           FetchOptions options)
    : socket_(context, zmq::socket_type::dealer), store_(store), options_(options) {
  net::secure_client(socket_);
  socket_.set(zmq::sockopt::linger, 500);
  socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(proto::kMaxChunkBytes + (64 << 10)));
  socket_.connect(leader_endpoint);
}

void ShardFetcher::send(const proto::DataMessage& message) {
  auto frames = proto::encode_data_message(message);
  if (!frames) return;
  try {
    for (size_t i = 0; i < frames->size(); ++i) {
      socket_.send(zmq::buffer((*frames)[i]),
                   i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::dontwait);
    }
  } catch (const zmq::error_t&) {
  }
}

Status ShardFetcher::request(const std::string& sha256, uint64_t offset, uint64_t length) {
  auto frames = proto::encode_data_message(proto::FetchMsg{sha256, offset, length});
  if (!frames) return frames.take_error();
  try {
    socket_.send(zmq::buffer((*frames)[0]), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    return make_error(std::string("cannot request a chunk: ") + e.what());
  }
  return Status::Ok();
}

Result<proto::ChunkMsg> ShardFetcher::receive_chunk(const std::atomic<bool>& cancel) {
  const auto deadline = std::chrono::steady_clock::now() + options_.stall_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cancel) return make_error("cancelled");
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<std::string> frames;
    zmq::message_t part;
    do {
      if (!socket_.recv(part, zmq::recv_flags::none)) break;
      frames.push_back(part.to_string());
    } while (part.more() && frames.size() < 4);
    LL_ASSIGN_OR_RETURN(proto::DataMessage message, proto::decode_data_message(frames));
    if (auto* chunk = std::get_if<proto::ChunkMsg>(&message)) return std::move(*chunk);
    if (auto* error = std::get_if<proto::DataErrorMsg>(&message)) return make_error("leader: " + error->message);
  }
  return make_error("the leader stopped sending (no chunk for " +
                    std::to_string(options_.stall_timeout.count() / 1000) + " s)");
}

Status ShardFetcher::fetch(const std::string& sha256, uint64_t expected_size,
                           const std::function<void(uint64_t)>& on_bytes, const std::atomic<bool>& cancel) {
  if (!pipeline::is_sha256_name(sha256)) return make_error("not a sha256 name");
  uint64_t total = expected_size;
  uint64_t next_offset = 0;
  std::set<uint64_t> outstanding;
  auto fill_window = [&]() -> Status {
    while (outstanding.size() < static_cast<size_t>(options_.window) &&
           (total == 0 ? next_offset == 0 : next_offset < total)) {
      const uint64_t length = total == 0 ? options_.chunk_bytes : std::min(options_.chunk_bytes, total - next_offset);
      LL_TRY_STATUS(request(sha256, next_offset, length));
      outstanding.insert(next_offset);
      next_offset += length;
    }
    return Status::Ok();
  };
  LL_TRY_STATUS(fill_window());
  bool begun = false;
  while (!outstanding.empty()) {
    auto chunk = receive_chunk(cancel);
    if (!chunk) {
      if (begun) store_.abandon(sha256);
      return chunk.take_error();
    }
    if (chunk->sha256 != sha256 || !outstanding.count(chunk->offset)) continue;  // stale answer
    if (!begun) {
      if (expected_size != 0 && chunk->total != expected_size) {
        return make_error("leader reports " + std::to_string(chunk->total) + " bytes for " + sha256.substr(0, 12) +
                          ", the manifest says " + std::to_string(expected_size));
      }
      total = chunk->total;
      LL_TRY_STATUS(store_.begin(sha256, total));
      begun = true;
    }
    if (chunk->total != total) return make_error("inconsistent file size from the leader");
    LL_TRY_STATUS(store_.write(sha256, chunk->offset, chunk->bytes.data));
    outstanding.erase(chunk->offset);
    if (on_bytes) on_bytes(chunk->bytes.data.size());
    LL_TRY_STATUS(fill_window());
  }
  if (!begun) return make_error("nothing received for " + sha256);
  return store_.finish(sha256);
}

}  // namespace ll::deploy
