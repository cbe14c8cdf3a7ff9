// ShardStore: the content-addressed cache of model files under a daemon's data folder (<data-dir>/shards/<sha256>).
// A file enters the store only after its bytes hash to its name, so a restart or a re-plan fetches nothing it
// already has, and nothing unverified is ever handed to libtorch. Names are checked to be 64 hex digits before any
// path is built from them. Durability: a file counts as stored once it and the folder's rename are fsynced. Symlinks
// are never followed (O_NOFOLLOW), so nobody can redirect a write or a read out of the store. A stored file can rot
// later (bit rot, a power loss that kept the rename but not the bytes): verify() finds that and deletes the file, so
// it is fetched again instead of failing every later load. Thread-compatible: one writer (the loader) at a time.
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
  // Whether a regular file (not a symlink) is stored under that name. Cheap: says nothing of its bytes.
  [[nodiscard]] bool has(std::string_view sha256) const;
  [[nodiscard]] std::string path(std::string_view sha256) const;  // where a verified file lives
  const std::string& root() const { return root_; }

  // Receiving a file in chunks: begin() reserves `size` bytes, write() stores a chunk at its offset, finish()
  // verifies the hash and moves the file into place (a mismatch deletes it and is an error).
  [[nodiscard]] Status begin(std::string_view sha256, uint64_t size);
  [[nodiscard]] Status write(std::string_view sha256, uint64_t offset, std::string_view bytes);
  [[nodiscard]] Status finish(std::string_view sha256);
  void abandon(std::string_view sha256);

  // Hashes the stored file again (one read of it). A file that is missing, not a regular file, or no longer hashes
  // to its name is deleted, and the error says which: the caller fetches it again.
  [[nodiscard]] Status verify(std::string_view sha256);

 private:
  std::string partial_path(std::string_view sha256) const;
  std::string root_;
  std::map<std::string, uint64_t, std::less<>> sizes_;  // files being received
};

[[nodiscard]] bool is_sha256_name(std::string_view text);

}  // namespace ll::pipeline
