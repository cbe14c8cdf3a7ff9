// What the deploy endpoint serves from disk: the files a plan names, never what a symlink in their place points to.
#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "deploy/file_server.h"

using namespace ll;
namespace fs = std::filesystem;

namespace {

struct Package {
  std::string dir;
  explicit Package(const char* tag) {
    dir = (fs::temp_directory_path() / ("ll-files-" + std::string(tag) + "-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir + "/store");
  }
  ~Package() { fs::remove_all(dir); }
};

proto::DataMessage serve(pipeline::ShardStore& store, const std::string& sha, const std::string& announced) {
  deploy::FileServer server(store, deploy::FileLookups{[&](const std::string& s) { return s == sha ? announced : ""; },
                                                       [](const std::string&) { return false; }});
  return server.serve(proto::FetchMsg{sha, 0, 1 << 16});
}

}  // namespace

TEST_CASE("SymlinkedPackageShardIsNotServed", "[deploy][files][security]") {
  Package p("symlink");
  pipeline::ShardStore store(p.dir + "/store");
  // The package's shard points at a file of this device that no plan names (say, its keys)...
  { std::ofstream(p.dir + "/device.key") << "secret = private"; }
  fs::create_symlink(p.dir + "/device.key", p.dir + "/shard_000.ptl");
  auto answer = serve(store, sha256_hex("secret = private"), p.dir + "/shard_000.ptl");
  REQUIRE(std::holds_alternative<proto::DataErrorMsg>(answer));
  CHECK_THAT(std::get<proto::DataErrorMsg>(answer).message, Catch::Contains("symlink"));
  // ...while the same bytes as a plain file are served.
  fs::remove(p.dir + "/shard_000.ptl");
  fs::copy_file(p.dir + "/device.key", p.dir + "/shard_000.ptl");
  answer = serve(store, sha256_hex("secret = private"), p.dir + "/shard_000.ptl");
  REQUIRE(std::holds_alternative<proto::ChunkMsg>(answer));
  const auto& chunk = std::get<proto::ChunkMsg>(answer);
  CHECK(chunk.total == 16);
  CHECK(chunk.bytes.data == "secret = private");
}
