#include "deploy/file_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace ll::deploy {

proto::DataMessage FileServer::serve(const proto::FetchMsg& fetch) const {
  std::string path = lookups_.announced_path(fetch.sha256);
  if (path.empty()) {
    if (!lookups_.plan_names(fetch.sha256) || !store_.has(fetch.sha256)) {
      return proto::DataErrorMsg{"bad_request", "no announced file has that hash"};
    }
    path = store_.path(fetch.sha256);  // any device serves the files of the plan it holds (failover, peers)
  }
  struct stat st {};
  const uint64_t total = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (fetch.offset > total) return proto::DataErrorMsg{"bad_request", "offset past the end"};
  const uint64_t length = std::min<uint64_t>(fetch.length, total - fetch.offset);
  proto::ChunkMsg chunk;
  chunk.sha256 = fetch.sha256;
  chunk.offset = fetch.offset;
  chunk.total = total;
  chunk.bytes.dtype = proto::DType::kU8;
  chunk.bytes.shape = {length};
  chunk.bytes.data.resize(length);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const ssize_t n = fd >= 0 ? ::pread(fd, chunk.bytes.data.data(), length, static_cast<off_t>(fetch.offset)) : -1;
  if (fd >= 0) ::close(fd);
  if (n != static_cast<ssize_t>(length)) return proto::DataErrorMsg{"internal", "read failed"};
  return chunk;
}

}  // namespace ll::deploy
