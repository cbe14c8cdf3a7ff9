#include "deploy/file_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ll::deploy {

proto::DataMessage FileServer::serve(const proto::FetchMsg& fetch) const {
  std::string path = lookups_.announced_path(fetch.sha256);
  if (path.empty()) {
    if (!lookups_.plan_names(fetch.sha256) || !store_.has(fetch.sha256)) {
      return proto::DataErrorMsg{"bad_request", "no announced file has that hash"};
    }
    path = store_.path(fetch.sha256);  // any device serves the files of the plan it holds (failover, peers)
  }
  // O_NOFOLLOW: a package file that is a symlink is never served (it could point anywhere on this device, e.g. at
  // the keys folder); the size comes from the descriptor, so what is measured is what is read.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return proto::DataErrorMsg{"bad_request", errno == ELOOP ? "the file is a symlink: not served" : "cannot open it"};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return proto::DataErrorMsg{"bad_request", "not a regular file: not served"};
  }
  const uint64_t total = static_cast<uint64_t>(st.st_size);
  if (fetch.offset > total) {
    ::close(fd);
    return proto::DataErrorMsg{"bad_request", "offset past the end"};
  }
  const uint64_t length = std::min<uint64_t>(fetch.length, total - fetch.offset);
  proto::ChunkMsg chunk;
  chunk.sha256 = fetch.sha256;
  chunk.offset = fetch.offset;
  chunk.total = total;
  chunk.bytes.dtype = proto::DType::kU8;
  chunk.bytes.shape = {length};
  chunk.bytes.data.resize(length);
  const ssize_t n = ::pread(fd, chunk.bytes.data.data(), length, static_cast<off_t>(fetch.offset));
  ::close(fd);
  if (n != static_cast<ssize_t>(length)) return proto::DataErrorMsg{"internal", "read failed"};
  return chunk;
}

}  // namespace ll::deploy
