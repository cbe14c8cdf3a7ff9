// Regression tests for what scripts/fuzz found in the manifest parser: JSON nested deep enough to overflow the stack
// (nlohmann::json copies recursively) is refused with an error, and brackets inside strings do not count.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "model/manifest.h"
#include "support/paths.h"

namespace {

std::string header() {
  return R"({"format":"lingualinked-model","format_version":1,"name":"x","architecture":"llama","dtype":"float32",)"
         R"("wire_dtype":"float32","hyperparameters":)";
}

}  // namespace

TEST_CASE("DeeplyNestedManifestIsRejectedWithoutStackOverflow", "[manifest][fuzz]") {
  const size_t depth = 1'000'000;  // 2 MB, under the 4 MiB manifest limit
  const std::string text = header() + std::string(depth, '[') + std::string(depth, ']') + "}";
  auto m = ll::parse_manifest(text);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().find("nests deeper") != std::string::npos);
}

TEST_CASE("BracketsInsideManifestStringsDoNotCountAsNesting", "[manifest][fuzz]") {
  const std::string text = header() + R"({"dim":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"{{{{{{{{{{{{{{{{{{{{{{"}})";
  auto m = ll::parse_manifest(text);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().find("hyperparameters.dim") != std::string::npos);
}
