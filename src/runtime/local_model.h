// LocalModel: a whole package opened in this process — manifest, tokenizer and every shard in one ShardRange.
// What `llctl generate --local`, the benchmarks and the tests use. Thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "engine/shard_range.h"
#include "model/manifest.h"
#include "model/tokenizer.h"
#include "runtime/torch_runtime.h"

namespace ll {

struct LocalModel {
  std::string package_dir;
  Manifest manifest;
  Tokenizer tokenizer;
  std::unique_ptr<ShardRange> shards;
};

[[nodiscard]] Result<LocalModel> open_local_model(const std::string& package_dir, const RuntimeOptions& options);

}  // namespace ll
