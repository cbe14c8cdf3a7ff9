// /metrics in the Prometheus text exposition format (version 0.0.4), rendered from the topology document
// (cluster_topology, topology.h) and this HTTP server's own counters. Names and labels are listed in docs/http.md.
// Thread-safety: HttpCounters is updated from any thread (atomics and one mutex); render_metrics is stateless.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace ll::http {

class HttpCounters {
 public:
  struct Snapshot {
    std::map<int, uint64_t> responses;  // by HTTP status
    uint64_t completion_tokens = 0;
    uint64_t active_streams = 0;
    double first_token_seconds_sum = 0;
    uint64_t first_token_count = 0;
  };
  void count_response(int status);
  void add_completion_tokens(uint64_t n) { completion_tokens_ += n; }
  void stream_started() { ++active_streams_; }
  void stream_ended() { --active_streams_; }
  void observe_first_token(double seconds);
  [[nodiscard]] Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> responses_;
  double first_token_sum_ = 0;
  uint64_t first_token_count_ = 0;
  std::atomic<uint64_t> completion_tokens_{0};
  std::atomic<int64_t> active_streams_{0};
};

// Escapes a label value: backslash, double quote and newline, as the format requires.
[[nodiscard]] std::string escape_label(const std::string& value);

// The whole exposition text. `topology` may be null (the cluster did not answer): the HTTP counters still appear,
// and ll_cluster_up is 0.
[[nodiscard]] std::string render_metrics(const nlohmann::json& topology, const HttpCounters::Snapshot& http);

}  // namespace ll::http
