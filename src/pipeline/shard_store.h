// ShardStore: the content-addressed cache of model files under a daemon's data folder (<data-dir>/shards/<sha256>).
// A file enters the store only after its bytes hash to its name, so a restart or a re-plan fetches nothing it
// already has, and nothing unverified is ever handed to libtorch. Names are checked to be 64 hex digits before any
// path is built from them. Thread-compatible: one writer (the daemon's fetcher) at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "lingualinked/result.h"

namespace ll::pipeline {

class ShardStore {
 public:
  explicit ShardStore(std::string root) : root_(std::move(root)) {}

  [[nodiscard]] Status init();  // creates the folder; removes partial files left by a crash
  [[nodiscard]] bool has(std::string_view sha256) const;
  [[nodiscard]] std::string path(std::string_view sha256) const;  // where a verified file lives
  const std::string& root() const { return root_; }

  // Receiving a file in chunks: begin() reserves `size` bytes, write() stores a chunk at its offset, finish()
  // verifies the hash and moves the file into place (a mismatch deletes it and is an error).
  [[nodiscard]] Status begin(std::string_view sha256, uint64_t size);
  [[nodiscard]] Status write(std::string_view sha256, uint64_t offset, std::string_view bytes);
  [[nodiscard]] Status finish(std::string_view sha256);
  void abandon(std::string_view sha256);

  // Adds a local file (e.g. from a package folder) by copying it in, if its hash matches.
  [[nodiscard]] Status import_file(const std::string& source, std::string_view sha256);

 private:
  std::string partial_path(std::string_view sha256) const;
  std::string root_;
  std::map<std::string, uint64_t, std::less<>> sizes_;  // files being received
};

[[nodiscard]] bool is_sha256_name(std::string_view text);

}  // namespace ll::pipeline
