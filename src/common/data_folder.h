// The daemon's data folder (election state, shard cache): where it is by default, that it is private to this user,
// and that one daemon at a time uses it. The default is never a predictable path in /tmp, where another local user
// could create it first. Functions are stateless and thread-safe; a DataFolderLock is a move-only handle whose
// lock lasts as long as it does (thread-compatible).
#pragma once

#include <sys/types.h>

#include <string>

#include "lingualinked/result.h"

namespace ll {

// What the default depends on: the effective uid, $XDG_STATE_HOME and $HOME ("" when unset).
struct DataFolderEnv {
  uid_t uid = 0;
  std::string xdg_state_home;
  std::string home;
};
[[nodiscard]] DataFolderEnv current_data_folder_env();

// root: /var/lib/lingualinked/<device>; anyone else: $XDG_STATE_HOME/lingualinked/<device>, where an unset or
// relative XDG_STATE_HOME means $HOME/.local/state (the XDG base directory rules). One subfolder per device name, so
// that several daemons on one host do not share one. An error when neither variable gives an absolute path.
[[nodiscard]] Result<std::string> default_data_folder(const DataFolderEnv& env, const std::string& device_name);

// Creates `path` and its missing parents with mode 0700. Refuses a folder (existing or not) that is not owned by
// `uid` or that group or others may write to: whoever can write there can replace the election state or the lock.
[[nodiscard]] Status prepare_data_folder(const std::string& path, uid_t uid);

// <folder>/lock, held with flock(LOCK_EX | LOCK_NB) while this object lives, and holding the holder's pid. A second
// daemon pointed at the same folder gets "data folder X is in use by another lingualinkd (pid N)" instead of both
// writing the election state. The kernel releases the lock when the process ends, however it ends.
class DataFolderLock {
 public:
  [[nodiscard]] static Result<DataFolderLock> acquire(const std::string& folder);
  DataFolderLock(DataFolderLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataFolderLock& operator=(DataFolderLock&& other) noexcept;
  DataFolderLock(const DataFolderLock&) = delete;
  DataFolderLock& operator=(const DataFolderLock&) = delete;
  ~DataFolderLock();

 private:
  explicit DataFolderLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace ll
