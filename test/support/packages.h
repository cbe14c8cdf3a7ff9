// Test helpers over the exported test packages (scripts/make-test-models): open one as a local model or fail the
// test with a hint, and make a private copy that a test may damage. Used by the runtime tests.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "runtime/local_model.h"
#include "support/paths.h"

namespace ll::test {

inline LocalModel open_or_fail(const std::string& dir) {
  auto model = open_local_model(dir, RuntimeOptions{1});
  if (!model) FAIL("cannot open " << dir << ": " << model.error() << " (run scripts/make-test-models)");
  return std::move(model).value();
}

// A private copy of package `name` in the temporary folder, unique per tag and process.
inline std::string copy_package(const std::string& name, const std::string& tag) {
  namespace fs = std::filesystem;
  fs::path dst = fs::temp_directory_path() / ("ll-test-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(dst);
  fs::copy(model_dir(name), dst, fs::copy_options::recursive);
  return dst.string();
}

}  // namespace ll::test
