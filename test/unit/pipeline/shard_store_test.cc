// The content-addressed shard cache: only bytes that hash to their name enter it.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

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

namespace {
// Stores `data` through the chunked path, as a fetch does; returns its name.
std::string store_bytes(ShardStore& store, const std::string& data) {
  const std::string sha = sha256_hex(data);
  REQUIRE(store.begin(sha, data.size()).ok());
  REQUIRE(store.write(sha, 0, data).ok());
  REQUIRE(store.finish(sha).ok());
  return sha;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("CachedFileWithFlippedBytesIsDeletedByVerify", "[store]") {
  ShardStore store(fresh_root("rot"));
  REQUIRE(store.init().ok());
  const std::string sha = store_bytes(store, std::string(8192, 'r'));
  REQUIRE(store.verify(sha).ok());
  {
    std::fstream f(store.path(sha), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4000);
    f.put('X');  // bit rot: same size, other bytes
  }
  REQUIRE(store.has(sha));  // has() is cheap and cannot tell
  auto checked = store.verify(sha);
  REQUIRE_FALSE(checked.ok());
  CHECK_THAT(checked.error(), Catch::Contains("no longer hashes to its name"));
  CHECK_FALSE(store.has(sha));  // deleted: the next load fetches it again
  fs::remove_all(store.root());
}

TEST_CASE("SymlinkPlantedUnderAHashNameIsNotAStoredFile", "[store][security]") {
  const std::string root = fresh_root("link");
  ShardStore store(root);
  REQUIRE(store.init().ok());
  const std::string elsewhere = root + "-elsewhere";
  { std::ofstream(elsewhere) << "secret"; }
  const std::string sha = sha256_hex("secret");
  fs::create_symlink(elsewhere, store.path(sha));
  CHECK_FALSE(store.has(sha));  // never served to peers nor skipped by a fetch
  auto checked = store.verify(sha);
  REQUIRE_FALSE(checked.ok());
  CHECK_FALSE(fs::is_symlink(fs::symlink_status(store.path(sha))));  // the link is gone
  CHECK(read_all(elsewhere) == "secret");                            // and its target untouched
  fs::remove_all(root);
  fs::remove(elsewhere);
}

TEST_CASE("PlantedPartialSymlinkIsNotWrittenThrough", "[store][security]") {
  const std::string root = fresh_root("partial-link");
  ShardStore store(root);
  REQUIRE(store.init().ok());
  const std::string victim = root + "-victim";
  { std::ofstream(victim) << "keep me"; }
  const std::string data(4096, 'd');
  const std::string sha = sha256_hex(data);
  fs::create_symlink(victim, store.path(sha) + ".partial");  // planted after init() cleaned up
  REQUIRE(store.begin(sha, data.size()).ok());
  REQUIRE(store.write(sha, 0, data).ok());
  REQUIRE(store.finish(sha).ok());
  CHECK(read_all(victim) == "keep me");
  CHECK(read_all(store.path(sha)) == data);
  fs::remove_all(root);
  fs::remove(victim);
}
