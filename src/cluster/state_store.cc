#include "cluster/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "proto/json_fields.h"

namespace ll::cluster {

StateStore::StateStore(std::string data_dir) : dir_(std::move(data_dir)) {
  if (!dir_.empty()) path_ = dir_ + "/election.json";
}

Result<PersistedVote> StateStore::load() const {
  if (path_.empty()) return PersistedVote{};
  std::ifstream in(path_, std::ios::binary);
  if (!in) return PersistedVote{};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = proto::parse_control_json(ss.str(), 4096, 4);
  if (!j.ok()) return make_error(path_ + ": " + j.error());
  PersistedVote v;
  auto term = proto::get_u64(*j, "term");
  if (!term.ok()) return make_error(path_ + ": " + term.error());
  v.term = *term;
  auto voted = proto::get_name_or_empty(*j, "voted_for");
  if (!voted.ok()) return make_error(path_ + ": " + voted.error());
  v.voted_for = *voted;
  return v;
}

Status StateStore::save(const PersistedVote& vote) {
  if (path_.empty()) return Status::Ok();
  ::mkdir(dir_.c_str(), 0700);
  const std::string tmp = path_ + ".tmp";
  const std::string text = proto::Json{{"term", vote.term}, {"voted_for", vote.voted_for}}.dump() + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    return make_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace ll::cluster
