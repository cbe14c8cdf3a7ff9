// StageConfig: what one device runs in the current plan — its shards, its place in the ring, and where every other
// stage listens. Made by the control plane when a plan is applied and handed, immutable, to the StageServer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/shard_range.h"
#include "model/manifest.h"
#include "model/tokenizer.h"
#include "proto/tensor_frame.h"

namespace ll::pipeline {

struct StageConfig {
  uint64_t plan_version = 0;
  int stage_index = 0;
  std::vector<std::string> stage_endpoints;  // data endpoints of every stage, in ring order; [0] is the head
  std::shared_ptr<ShardRange> shards;
  std::shared_ptr<const Manifest> manifest;
  std::shared_ptr<const Tokenizer> tokenizer;  // needed by the head stage only
  proto::DType wire = proto::DType::kF32;      // precision of hidden states on the wire
  // Generations in flight at once: the KV caches the plan reserved on this stage. The head admits no more, and a
  // stage opens no more caches.
  int max_sessions = 1;

  bool is_head() const { return stage_index == 0; }
  bool is_tail() const { return stage_index + 1 == static_cast<int>(stage_endpoints.size()); }
  int stage_count() const { return static_cast<int>(stage_endpoints.size()); }
};

}  // namespace ll::pipeline
