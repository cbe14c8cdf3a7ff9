// The content-addressed shard cache: only bytes that hash to their name enter it.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/sha256.h"
#include "pipeline/shard_store.h"

using namespace ll;
using namespace ll::pipeline;
namespace fs = std::filesystem;

namespace {
std::string fresh_root(const char* tag) {
  fs::path root = fs::temp_directory_path() / ("ll-store-" + std::string(tag) + "-" + std::to_string(::getpid()));
  fs::remove_all(root);
  return root.string();
}
}  // namespace

TEST_CASE("ChunksInAnyOrderAssembleIntoAVerifiedFile", "[store]") {
  ShardStore store(fresh_root("chunks"));
  REQUIRE(store.init().ok());
  std::string data(10000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  const std::string sha = sha256_hex(data);
  CHECK_FALSE(store.has(sha));
  REQUIRE(store.begin(sha, data.size()).ok());
  REQUIRE(store.write(sha, 5000, std::string_view(data).substr(5000)).ok());
  REQUIRE(store.write(sha, 0, std::string_view(data).substr(0, 5000)).ok());
  REQUIRE(store.finish(sha).ok());
  CHECK(store.has(sha));
  CHECK(sha256_file_hex(store.path(sha)).value() == sha);
  fs::remove_all(store.root());
}

TEST_CASE("CorruptTransferIsDiscarded", "[store]") {
  ShardStore store(fresh_root("corrupt"));
  REQUIRE(store.init().ok());
  const std::string data(4096, 'x');
  const std::string sha = sha256_hex(data);
  REQUIRE(store.begin(sha, data.size()).ok());
  REQUIRE(store.write(sha, 0, std::string(4096, 'y')).ok());
  auto finished = store.finish(sha);
  REQUIRE_FALSE(finished.ok());
  CHECK_THAT(finished.error(), Catch::Contains("does not hash"));
  CHECK_FALSE(store.has(sha));
  CHECK_FALSE(fs::exists(store.path(sha) + ".partial"));
  fs::remove_all(store.root());
}

TEST_CASE("ChunkOutsideTheAnnouncedSizeIsRejected", "[store]") {
  ShardStore store(fresh_root("bounds"));
  REQUIRE(store.init().ok());
  const std::string sha(64, 'a');
  REQUIRE(store.begin(sha, 100).ok());
  CHECK_FALSE(store.write(sha, 90, std::string(20, 'z')).ok());
  CHECK_FALSE(store.write(sha, ~0ull, "z").ok());
  store.abandon(sha);
  fs::remove_all(store.root());
}

TEST_CASE("NamesThatAreNotHashesCannotEscapeTheStore", "[store][security]") {
  ShardStore store(fresh_root("names"));
  REQUIRE(store.init().ok());
  CHECK_FALSE(store.begin("../../etc/passwd", 10).ok());
  CHECK_FALSE(store.begin(std::string(64, 'G'), 10).ok());
  CHECK_FALSE(store.has("../x"));
  fs::remove_all(store.root());
}
