// Weight types in the manifest: an int8 package parses with its engines; a package that mixes weight types, an
// unknown weight type or an int8 package naming no engine is refused with a one-line error naming the field.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "model/manifest.h"
#include "support/paths.h"
#include "unit/manifest/manifest_fixture.h"

using namespace ll;
using nlohmann::json;

namespace {

// The valid test manifest, every shard and the package marked int8, runnable on both engines.
json int8_manifest() {
  json m = test::valid_manifest();
  m["weight_dtype"] = "int8";
  m["quantized_engines"] = {"qnnpack", "onednn"};
  for (auto& s : m["shards"]) s["weight_dtype"] = "int8";
  return m;
}

std::string parse_error(const json& m) {
  auto r = parse_manifest(m.dump());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find('\n') == std::string::npos);
  return r.error();
}

}  // namespace

TEST_CASE("Int8ManifestParsesWithItsEngines", "[manifest][int8]") {
  auto r = parse_manifest(int8_manifest().dump());
  REQUIRE(r.ok());
  CHECK(r->weight_dtype == "int8");
  CHECK(r->quantized_engines == std::vector<std::string>{"qnnpack", "onednn"});
  for (const auto& s : r->shards) CHECK(s.weight_dtype == "int8");
}

TEST_CASE("ManifestWithoutWeightTypeIsFloat32", "[manifest][int8]") {
  json m = int8_manifest();
  m.erase("weight_dtype");
  m.erase("quantized_engines");
  for (auto& s : m["shards"]) s.erase("weight_dtype");
  auto r = parse_manifest(m.dump());
  REQUIRE(r.ok());
  CHECK(r->weight_dtype == "float32");
  CHECK(r->shards[1].weight_dtype == "float32");
}

TEST_CASE("MixedWeightTypePackageIsRejected", "[manifest][int8]") {
  json m = int8_manifest();
  m["shards"][2]["weight_dtype"] = "float32";
  CHECK_THAT(parse_error(m), Catch::Contains("shards[2].weight_dtype") && Catch::Contains("mixes weight types"));
  m = int8_manifest();
  m["weight_dtype"] = "float32";
  m.erase("quantized_engines");
  CHECK_THAT(parse_error(m), Catch::Contains("shards[0].weight_dtype") && Catch::Contains("mixes weight types"));
}

TEST_CASE("UnknownWeightTypeIsRejected", "[manifest][int8]") {
  json m = int8_manifest();
  m["weight_dtype"] = "int4";
  CHECK_THAT(parse_error(m), Catch::Contains("manifest.weight_dtype: unsupported weight type 'int4'"));
}

TEST_CASE("Int8PackageNamingNoEngineIsRejected", "[manifest][int8]") {
  json m = int8_manifest();
  m.erase("quantized_engines");
  CHECK_THAT(parse_error(m), Catch::Contains("manifest.quantized_engines"));
  m["quantized_engines"] = json::array();
  CHECK_THAT(parse_error(m), Catch::Contains("manifest.quantized_engines"));
  m["quantized_engines"] = {7};
  CHECK_THAT(parse_error(m), Catch::Contains("manifest.quantized_engines"));
}

TEST_CASE("ExportedInt8Stories260KIsSmallerThanFloat32", "[manifest][int8]") {
  auto fp32 = load_manifest(test::model_dir("stories260K"));
  auto int8 = load_manifest(test::model_dir("stories260K-int8"));
  REQUIRE(fp32.ok());
  REQUIRE(int8.ok());
  CHECK(int8->weight_dtype == "int8");
  CHECK(fp32->weight_dtype == "float32");
  CHECK(int8->total_weight_bytes() < fp32->total_weight_bytes() * 0.45);
}
