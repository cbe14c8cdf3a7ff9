#include "common/data_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

namespace ll {
namespace {

std::string getenv_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

DataFolderEnv current_data_folder_env() {
  return DataFolderEnv{::geteuid(), getenv_or_empty("XDG_STATE_HOME"), getenv_or_empty("HOME")};
}

Result<std::string> default_data_folder(const DataFolderEnv& env, const std::string& device_name) {
  if (device_name.empty() || device_name == "." || device_name == ".." || device_name.find('/') != std::string::npos) {
    return make_error("device name '" + device_name + "' cannot name a data folder; pass --data-dir");
  }
  if (env.uid == 0) return "/var/lib/lingualinked/" + device_name;
  std::string state;
  if (!env.xdg_state_home.empty() && env.xdg_state_home[0] == '/') {
    state = env.xdg_state_home;
  } else if (!env.home.empty() && env.home[0] == '/') {
    state = env.home + "/.local/state";
  } else {
    return make_error("no data folder: neither XDG_STATE_HOME nor HOME is an absolute path; pass --data-dir");
  }
  return state + "/lingualinked/" + device_name;
}

Status prepare_data_folder(const std::string& path, uid_t uid) {
  if (path.empty()) return make_error("empty data folder path");
  // Each missing component is made 0700 (the XDG rule for the state folder; the umask can only narrow it).
  std::filesystem::path so_far;
  for (const auto& part : std::filesystem::path(path)) {
    so_far /= part;
    if (::mkdir(so_far.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error("cannot create data folder " + so_far.string() + ": " + std::strerror(errno));
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error("data folder " + path + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return make_error("data folder " + path + " is not a folder");
  if (st.st_uid != uid) {
    return make_error("data folder " + path + " belongs to uid " + std::to_string(st.st_uid) +
                      ", not to this user (uid " + std::to_string(uid) + "): refusing it");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return make_error("data folder " + path + " is writable by group or others (mode " + octal_mode(st.st_mode) +
                      "): refusing it; chmod 700 it");
  }
  return Status::Ok();
}

Result<DataFolderLock> DataFolderLock::acquire(const std::string& folder) {
  const std::string path = folder + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("cannot open " + path + ": " + std::strerror(errno));
  DataFolderLock lock(fd);  // closes it on every error below
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return make_error("cannot lock " + path + ": " + std::strerror(errno));
    char text[32] = {0};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    const long pid = n > 0 ? std::strtol(text, nullptr, 10) : 0;
    return make_error("data folder " + folder + " is in use by another lingualinkd (pid " +
                      (pid > 0 ? std::to_string(pid) : std::string("unknown")) + ")");
  }
  // The file is never removed: unlinking a lock file lets a third process lock a new file while a second one still
  // holds the old. Only its contents change.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return make_error("cannot write " + path + ": " + std::strerror(errno));
  }
  return lock;
}

DataFolderLock& DataFolderLock::operator=(DataFolderLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DataFolderLock::~DataFolderLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace ll
