#include "pipeline/shard_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace ll::pipeline {

namespace fs = std::filesystem;

namespace {

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

std::string errno_text() { return std::strerror(errno); }

// The hash of what an open descriptor reads: the bytes of the file we opened, whatever its name points to later.
Result<std::string> sha256_of(int fd) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<unsigned char> buffer(1 << 20);
  off_t offset = 0;
  while (true) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("read error: " + errno_text());
    if (n == 0) break;
    crypto_hash_sha256_update(&state, buffer.data(), static_cast<size_t>(n));
    offset += n;
  }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  static const char* kDigits = "0123456789abcdef";
  std::string hex(2 * sizeof digest, '0');
  for (size_t i = 0; i < sizeof digest; ++i) {
    hex[2 * i] = kDigits[digest[i] >> 4];
    hex[2 * i + 1] = kDigits[digest[i] & 15];
  }
  return hex;
}

// A rename is durable only once the folder holding it is on disk too.
Status sync_folder(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok() || ::fsync(fd.get()) != 0) return make_error("cannot sync " + dir + ": " + errno_text());
  return Status::Ok();
}

}  // namespace

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
  return ::lstat(path(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string ShardStore::path(std::string_view sha256) const { return root_ + "/" + std::string(sha256); }
std::string ShardStore::partial_path(std::string_view sha256) const { return path(sha256) + ".partial"; }

Status ShardStore::begin(std::string_view sha256, uint64_t size) {
  if (!is_sha256_name(sha256)) return make_error("not a sha256 name");
  const std::string p = partial_path(sha256);
  // A fresh file of our own: whatever had the name (a stale partial, a planted symlink) goes, and O_EXCL with
  // O_NOFOLLOW refuses anything that reappears in between rather than writing through it.
  ::unlink(p.c_str());
  Fd fd(::open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.ok()) return make_error("cannot create " + p + ": " + errno_text());
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    ::unlink(p.c_str());
    return make_error("cannot reserve " + std::to_string(size) + " bytes for " + p + ": " + errno_text());
  }
  sizes_[std::string(sha256)] = size;
  return Status::Ok();
}

Status ShardStore::write(std::string_view sha256, uint64_t offset, std::string_view bytes) {
  auto it = sizes_.find(sha256);
  if (it == sizes_.end()) return make_error("no transfer in progress for " + std::string(sha256));
  if (offset > it->second || bytes.size() > it->second - offset) return make_error("chunk outside the file");
  const std::string p = partial_path(sha256);
  Fd fd(::open(p.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.ok()) return make_error("cannot open " + p + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error("write failed on " + p + ": " + errno_text());
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ShardStore::finish(std::string_view sha256) {
  auto it = sizes_.find(sha256);
  if (it == sizes_.end()) return make_error("no transfer in progress for " + std::string(sha256));
  sizes_.erase(it);
  const std::string p = partial_path(sha256);
  Fd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.ok()) return make_error("cannot open " + p + ": " + errno_text());
  auto digest = sha256_of(fd.get());
  if (!digest || *digest != sha256) {
    ::unlink(p.c_str());
    return make_error("received file does not hash to " + std::string(sha256) + ": discarded");
  }
  // The bytes reach the disk before the name does: a power loss leaves the old state or the whole file.
  if (::fsync(fd.get()) != 0) {
    ::unlink(p.c_str());
    return make_error("cannot sync " + p + ": " + errno_text());
  }
  if (::rename(p.c_str(), path(sha256).c_str()) != 0) {
    ::unlink(p.c_str());
    return make_error("cannot move " + p + " into the store: " + errno_text());
  }
  return sync_folder(root_);
}

void ShardStore::abandon(std::string_view sha256) {
  sizes_.erase(std::string(sha256));
  ::unlink(partial_path(sha256).c_str());
}

Status ShardStore::verify(std::string_view sha256) {
  if (!is_sha256_name(sha256)) return make_error("not a sha256 name");
  const std::string p = path(sha256);
  const std::string name = std::string(sha256.substr(0, 12));
  Fd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.ok()) {
    if (errno == ENOENT) return make_error("cached " + name + " is missing");
    ::unlink(p.c_str());  // a symlink (ELOOP) or worse: never ours
    return make_error("cached " + name + " cannot be opened (" + errno_text() + "): deleted");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::error_code ec;
    fs::remove_all(p, ec);  // a folder or a device node planted under a hash name
    return make_error("cached " + name + " is not a regular file: deleted");
  }
  auto digest = sha256_of(fd.get());
  if (!digest || *digest != sha256) {
    ::unlink(p.c_str());
    return make_error("cached " + name + " no longer hashes to its name: deleted");
  }
  return Status::Ok();
}

}  // namespace ll::pipeline
