// StateStore: the election state that must survive a restart (current term and the vote cast in it), one small
// JSON file in the data directory, replaced atomically (write, fsync, rename). Without a data directory the state
// lives in memory only (docs/cluster.md explains the risk). A file that is unreadable, truncated, corrupt or holds
// a term over proto::kMaxTerm is an error (the daemon refuses to start): guessing term 0 could vote twice in a
// term, and an absurd term would stop elections. Not thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "cluster/election.h"
#include "lingualinked/result.h"

namespace ll::cluster {

// The file's text -> the state, or what is wrong with it (one phrase, without the path). Pure: the fuzz target
// test/fuzz/fuzz_election_state.cc drives it.
[[nodiscard]] Result<PersistedVote> parse_persisted_vote(std::string_view text);
// The state -> the file's text (parse_persisted_vote reads it back unchanged).
[[nodiscard]] std::string format_persisted_vote(const PersistedVote& vote);

class StateStore {
 public:
  explicit StateStore(std::string data_dir);  // "" = memory only

  // The stored state; a missing file is a fresh start (term 0). Anything else wrong is a one-line error naming the
  // file and what to do.
  [[nodiscard]] Result<PersistedVote> load() const;
  [[nodiscard]] Status save(const PersistedVote& vote);
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace ll::cluster
