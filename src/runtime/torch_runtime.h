// The libtorch implementation of ShardRange: loads TorchScript lite-interpreter shards with
// torch::jit::_load_for_mobile after checking each file against the manifest (size + sha256), and runs them with a
// preallocated KV cache per session. This header is torch-free; only src/runtime/*.cc include libtorch.
// Thread-safety: a loaded ShardRange is used from one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "engine/shard_range.h"
#include "model/manifest.h"

namespace ll {

struct RuntimeOptions {
  int threads = 0;  // intra-op threads for libtorch; 0 leaves libtorch's default
};

// Maps a shard to the path of its file (the package folder, or the content-addressed cache).
using ShardPathFn = std::function<std::string(const ShardInfo&)>;

// Loads shards [first, last] of `manifest`. Every file is verified before libtorch sees it. Shards that `reuse` (a
// range this process loaded before, e.g. the stage of the previous plan) already holds — same sha256 — are shared
// with it instead of read again, so a re-plan that moves a boundary loads only the shards that are new here. Files
// are verified and loaded on up to two threads.
[[nodiscard]] Result<std::unique_ptr<ShardRange>> load_shard_range(const Manifest& manifest, int first, int last,
                                                                   const ShardPathFn& path_of,
                                                                   const RuntimeOptions& options,
                                                                   const ShardRange* reuse = nullptr);

// Convenience: files straight from a package folder.
[[nodiscard]] Result<std::unique_ptr<ShardRange>> load_package_range(const Manifest& manifest,
                                                                     const std::string& package_dir, int first,
                                                                     int last, const RuntimeOptions& options);

// Intra-op threads for libtorch and for the BLAS it calls (OpenBLAS keeps its own count otherwise).
void set_compute_threads(int threads);

// What libtorch was built with and runs on (BLAS library, threads), for logs and benchmarks.
[[nodiscard]] std::string runtime_description();

}  // namespace ll
