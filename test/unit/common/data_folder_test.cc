// The data folder: a default outside /tmp, private to its user, and one daemon at a time.
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>

#include "common/data_folder.h"

using namespace ll;
namespace fs = std::filesystem;

namespace {
std::string fresh(const char* tag) {
  fs::path p = fs::temp_directory_path() / ("ll-datafolder-" + std::string(tag) + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}
mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("DefaultDataFolderIsNeverInTmp", "[data_folder]") {
  CHECK(default_data_folder({0, "/home/x/.state", "/root"}, "board1").value() == "/var/lib/lingualinked/board1");
  CHECK(default_data_folder({1000, "/home/u/st", "/home/u"}, "phone").value() == "/home/u/st/lingualinked/phone");
  CHECK(default_data_folder({1000, "", "/home/u"}, "phone").value() == "/home/u/.local/state/lingualinked/phone");
  // A relative XDG_STATE_HOME is invalid by the XDG rules: ignored.
  CHECK(default_data_folder({1000, "rel/state", "/home/u"}, "phone").value() ==
        "/home/u/.local/state/lingualinked/phone");
  auto none = default_data_folder({1000, "", ""}, "phone");
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error(), Catch::Contains("--data-dir"));
  // Names the option table accepts ([A-Za-z0-9._-]) that would climb out of the folder.
  CHECK_FALSE(default_data_folder({0, "", "/root"}, "..").ok());
  CHECK_FALSE(default_data_folder({0, "", "/root"}, ".").ok());
}

TEST_CASE("DataFolderIsCreatedPrivateWithItsParents", "[data_folder]") {
  const std::string root = fresh("create");
  const std::string folder = root + "/state/lingualinked/dev";
  REQUIRE(prepare_data_folder(folder, ::geteuid()).ok());
  CHECK(mode_of(folder) == 0700);
  CHECK(mode_of(root + "/state/lingualinked") == 0700);
  REQUIRE(prepare_data_folder(folder, ::geteuid()).ok());  // an existing private folder is fine
  fs::remove_all(root);
}

TEST_CASE("DataFolderWritableByOthersIsRefused", "[data_folder][security]") {
  const std::string folder = fresh("writable");
  fs::create_directories(folder);
  REQUIRE(::chmod(folder.c_str(), 0777) == 0);
  auto refused = prepare_data_folder(folder, ::geteuid());
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error(), Catch::Contains("writable by group or others") && Catch::Contains("0777"));
  REQUIRE(::chmod(folder.c_str(), 0770) == 0);
  CHECK_FALSE(prepare_data_folder(folder, ::geteuid()).ok());
  fs::remove_all(folder);
}

TEST_CASE("DataFolderOfAnotherUserIsRefused", "[data_folder][security]") {
  const std::string folder = fresh("owner");
  fs::create_directories(folder);
  REQUIRE(::chmod(folder.c_str(), 0700) == 0);
  // Pre-created by someone else: the folder belongs to this test's uid, not to the uid asking.
  auto refused = prepare_data_folder(folder, ::geteuid() + 1);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error(), Catch::Contains("belongs to uid " + std::to_string(::geteuid())));
  fs::remove_all(folder);
}

TEST_CASE("SecondLockOnADataFolderIsRefusedWithTheHoldersPid", "[data_folder]") {
  const std::string folder = fresh("lock");
  fs::create_directories(folder);
  {
    auto first = DataFolderLock::acquire(folder);
    REQUIRE(first.ok());
    // flock is per open file: a second open in this process conflicts as another daemon's would.
    auto second = DataFolderLock::acquire(folder);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error() ==
          "data folder " + folder + " is in use by another lingualinkd (pid " + std::to_string(::getpid()) + ")");
  }
  CHECK(DataFolderLock::acquire(folder).ok());  // released with its holder
  fs::remove_all(folder);
}
