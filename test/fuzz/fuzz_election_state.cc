// libFuzzer target: ll::cluster::parse_persisted_vote, the parser of DATA_DIR/election.json read at start (a disk
// that corrupted it, a hand edit, a restored backup). The input is the file. A state that parses holds a term within
// proto::kMaxTerm (so elections can go on) and a valid or empty name, and survives format -> parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cluster/state_store.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = ll::cluster::parse_persisted_vote(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) {
    require(!parsed.error().empty() && parsed.error().find('\n') == std::string::npos);  // one line
    return 0;
  }
  require(parsed->term <= ll::proto::kMaxTerm);
  require(parsed->voted_for.empty() || ll::proto::valid_name(parsed->voted_for));
  auto again = ll::cluster::parse_persisted_vote(ll::cluster::format_persisted_vote(*parsed));
  require(again.ok() && again->term == parsed->term && again->voted_for == parsed->voted_for);
  return 0;
}
