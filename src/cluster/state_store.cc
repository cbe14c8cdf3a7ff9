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
#include "proto/limits.h"

namespace ll::cluster {
namespace {
constexpr size_t kMaxStateBytes = 4096;  // the file holds a term and a name: ~100 bytes
}  // namespace

StateStore::StateStore(std::string data_dir) : dir_(std::move(data_dir)) {
  if (!dir_.empty()) path_ = dir_ + "/election.json";
}

Result<PersistedVote> parse_persisted_vote(std::string_view text) {
  if (text.size() > kMaxStateBytes) return make_error("larger than " + std::to_string(kMaxStateBytes) + " bytes");
  auto j = proto::parse_control_json(text, kMaxStateBytes, 2);
  if (!j.ok()) return make_error("not a JSON object {\"term\": N, \"voted_for\": NAME} (truncated or corrupt)");
  PersistedVote v;
  auto term = proto::get_u64(*j, "term");
  if (!term.ok()) return make_error(term.error());
  if (*term > proto::kMaxTerm) {
    return make_error("term " + std::to_string(*term) + " is over the limit " + std::to_string(proto::kMaxTerm));
  }
  v.term = *term;
  auto voted = proto::get_name_or_empty(*j, "voted_for");
  if (!voted.ok()) return make_error(voted.error());
  v.voted_for = *voted;
  return v;
}

std::string format_persisted_vote(const PersistedVote& vote) {
  return proto::Json{{"term", vote.term}, {"voted_for", vote.voted_for}}.dump() + "\n";
}

Result<PersistedVote> StateStore::load() const {
  if (path_.empty()) return PersistedVote{};
  // What to do, on every error: the file is only safe to drop once the cluster has moved past its term.
  const std::string advice =
      "; the daemon will not start: restore the file, or delete it to start at term 0 (safe once the rest of the "
      "cluster is running; docs/cluster.md, \"Terms and their bound\")";
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return PersistedVote{};
    return make_error("election state " + path_ + ": " + std::strerror(errno) + advice);
  }
  if (!S_ISREG(st.st_mode)) return make_error("election state " + path_ + ": not a regular file" + advice);
  std::ifstream in(path_, std::ios::binary);
  std::string text(kMaxStateBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad() || (!in && !in.eof())) return make_error("election state " + path_ + ": cannot read it" + advice);
  text.resize(static_cast<size_t>(in.gcount()));
  auto vote = parse_persisted_vote(text);
  if (!vote.ok()) return make_error("election state " + path_ + ": " + vote.error() + advice);
  return vote;
}

Status StateStore::save(const PersistedVote& vote) {
  if (path_.empty()) return Status::Ok();
  ::mkdir(dir_.c_str(), 0700);
  const std::string tmp = path_ + ".tmp";
  const std::string text = format_persisted_vote(vote);
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
