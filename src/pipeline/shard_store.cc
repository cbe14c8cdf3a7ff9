#include "pipeline/shard_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/sha256.h"

namespace ll::pipeline {

namespace fs = std::filesystem;

bool is_sha256_name(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status ShardStore::init() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return make_error("cannot create " + root_ + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (entry.path().extension() == ".partial") fs::remove(entry.path(), ec);
  }
  return Status::Ok();
}

bool ShardStore::has(std::string_view sha256) const {
  if (!is_sha256_name(sha256)) return false;
  struct stat st {};
  return ::stat(path(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string ShardStore::path(std::string_view sha256) const { return root_ + "/" + std::string(sha256); }
std::string ShardStore::partial_path(std::string_view sha256) const { return path(sha256) + ".partial"; }

Status ShardStore::begin(std::string_view sha256, uint64_t size) {
  if (!is_sha256_name(sha256)) return make_error("not a sha256 name");
  const std::string p = partial_path(sha256);
  int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("cannot create " + p + ": " + std::strerror(errno));
  const bool sized = ::ftruncate(fd, static_cast<off_t>(size)) == 0;
  ::close(fd);
  if (!sized) return make_error("cannot reserve " + std::to_string(size) + " bytes for " + p);
  sizes_[std::string(sha256)] = size;
  return Status::Ok();
}

Status ShardStore::write(std::string_view sha256, uint64_t offset, std::string_view bytes) {
  auto it = sizes_.find(sha256);
  if (it == sizes_.end()) return make_error("no transfer in progress for " + std::string(sha256));
  if (offset > it->second || bytes.size() > it->second - offset) return make_error("chunk outside the file");
  const std::string p = partial_path(sha256);
  int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open " + p);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n <= 0) {
      ::close(fd);
      return make_error("write failed on " + p + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Status::Ok();
}

Status ShardStore::finish(std::string_view sha256) {
  auto it = sizes_.find(sha256);
  if (it == sizes_.end()) return make_error("no transfer in progress for " + std::string(sha256));
  sizes_.erase(it);
  const std::string p = partial_path(sha256);
  auto digest = sha256_file_hex(p);
  if (!digest || *digest != sha256) {
    ::unlink(p.c_str());
    return make_error("received file does not hash to " + std::string(sha256) + ": discarded");
  }
  if (::rename(p.c_str(), path(sha256).c_str()) != 0) return make_error("cannot move " + p + " into the store");
  return Status::Ok();
}

void ShardStore::abandon(std::string_view sha256) {
  sizes_.erase(std::string(sha256));
  ::unlink(partial_path(sha256).c_str());
}

Status ShardStore::import_file(const std::string& source, std::string_view sha256) {
  if (!is_sha256_name(sha256)) return make_error("not a sha256 name");
  if (has(sha256)) return Status::Ok();
  const std::string p = partial_path(sha256);
  std::error_code ec;
  fs::copy_file(source, p, fs::copy_options::overwrite_existing, ec);
  if (ec) return make_error("cannot copy " + source + ": " + ec.message());
  sizes_[std::string(sha256)] = fs::file_size(p, ec);
  return finish(sha256);
}

}  // namespace ll::pipeline
