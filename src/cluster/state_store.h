// StateStore: the election state that must survive a restart (current term and the vote cast in it), one small
// JSON file in the data directory, replaced atomically (write, fsync, rename). Without a data directory the state
// lives in memory only (docs/cluster.md explains the risk). Not thread-safe.
#pragma once

#include <string>

#include "cluster/election.h"
#include "lingualinked/result.h"

namespace ll::cluster {

class StateStore {
 public:
  explicit StateStore(std::string data_dir);  // "" = memory only

  // The stored state; a missing file is a fresh start (term 0). A corrupt file is an error.
  [[nodiscard]] Result<PersistedVote> load() const;
  [[nodiscard]] Status save(const PersistedVote& vote);
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace ll::cluster
