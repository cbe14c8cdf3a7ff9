// FileServer: answers a device's `fetch` with one chunk of a file the current deployment names — from the leader's
// package folder for the files its plan announced, or from this device's store for the files of the plan it holds
// (peers fetch from each other when the leader lacks a file). Nothing else is served: a hash no plan names is
// refused, whatever the store holds; so is a file that is a symlink or not a regular file (opened O_NOFOLLOW, sized
// by fstat on the descriptor it reads). Thread-safety: stateless apart from the lookups it is given, which must be
// thread-safe; serve() may run on any thread.
#pragma once

#include <functional>
#include <string>

#include "pipeline/shard_store.h"
#include "proto/data_messages.h"

namespace ll::deploy {

struct FileLookups {
  // The package path of a file the leader's current plan announced, "" when none.
  std::function<std::string(const std::string& sha256)> announced_path;
  // Whether the plan this device holds names the file (then the store may serve it).
  std::function<bool(const std::string& sha256)> plan_names;
};

class FileServer {
 public:
  FileServer(pipeline::ShardStore& store, FileLookups lookups) : store_(store), lookups_(std::move(lookups)) {}

  // The chunk, or the error to answer with.
  [[nodiscard]] proto::DataMessage serve(const proto::FetchMsg& fetch) const;

 private:
  pipeline::ShardStore& store_;
  const FileLookups lookups_;
};

}  // namespace ll::deploy
