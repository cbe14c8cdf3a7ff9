// The manifest parser on hostile and malformed input: every rejection names what is wrong.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "model/manifest.h"
#include "support/paths.h"
#include "unit/manifest/manifest_fixture.h"

using namespace ll;
using nlohmann::json;
using test::valid_manifest;

namespace {

std::string parse_error(const json& m) {
  auto r = parse_manifest(m.dump());
  REQUIRE_FALSE(r.ok());
  return r.error();
}

}  // namespace

TEST_CASE("ValidManifestParses", "[manifest]") {
  auto r = parse_manifest(valid_manifest().dump());
  REQUIRE(r.ok());
  CHECK(r->shards.size() == 4);
  CHECK(r->shards[2].layer == 1);
  CHECK(r->transmission_map[0].producer == TransmissionEdge::kHeadStage);
  CHECK(r->total_weight_bytes() == 32);
}

TEST_CASE("ParentPathInShardFileNameIsRejected", "[manifest][security]") {
  json m = valid_manifest();
  m["shards"][1]["file"] = "../../etc/passwd";
  CHECK_THAT(parse_error(m), Catch::Contains("unsafe file name"));
  m["shards"][1]["file"] = "sub/dir.ptl";
  CHECK_THAT(parse_error(m), Catch::Contains("unsafe file name"));
  m = valid_manifest();
  m["tokenizer"]["file"] = "..";
  CHECK_THAT(parse_error(m), Catch::Contains("unsafe"));
}

TEST_CASE("UnknownFormatVersionIsRejected", "[manifest]") {
  json m = valid_manifest();
  m["format_version"] = 2;
  CHECK_THAT(parse_error(m), Catch::Contains("not supported"));
}

TEST_CASE("NotJsonIsRejected", "[manifest]") {
  CHECK_THAT(parse_manifest("{\"format\": ").error(), Catch::Contains("not valid JSON"));
  CHECK_THAT(parse_manifest("[1,2]").error(), Catch::Contains("not an object"));
}

TEST_CASE("BlockCountDisagreeingWithLayersIsRejected", "[manifest]") {
  json m = valid_manifest();
  m["hyperparameters"]["n_layers"] = 3;
  CHECK_THAT(parse_error(m), Catch::Contains("n_layers"));
}

TEST_CASE("ShardsOutOfOrderAreRejected", "[manifest]") {
  json m = valid_manifest();
  std::swap(m["shards"][1], m["shards"][2]);
  CHECK_THAT(parse_error(m), Catch::Contains("id"));
}

TEST_CASE("WrongTypesAndRangesNameTheField", "[manifest]") {
  json m = valid_manifest();
  m["shards"][0]["bytes"] = -5;
  CHECK_THAT(parse_error(m), Catch::Contains("shards[0].bytes"));
  m = valid_manifest();
  m["hyperparameters"]["dim"] = "sixty-four";
  CHECK_THAT(parse_error(m), Catch::Contains("hyperparameters.dim"));
  m = valid_manifest();
  m["shards"][3]["sha256"] = "XYZ";
  CHECK_THAT(parse_error(m), Catch::Contains("sha256"));
}

TEST_CASE("ShardWithoutAnInputIsRejected", "[manifest]") {
  json m = valid_manifest();
  m["transmission_map"].erase(2);
  CHECK_THAT(parse_error(m), Catch::Contains("shard 2 has no input"));
}

TEST_CASE("ProducerAfterConsumerIsRejected", "[manifest]") {
  json m = valid_manifest();
  m["transmission_map"][1]["producer"] = 3;
  CHECK_THAT(parse_error(m), Catch::Contains("producer"));
}

TEST_CASE("ExportedStories260KManifestCarriesThePlacementFields", "[manifest]") {
  auto r = load_manifest(test::model_dir("stories260K"));
  REQUIRE(r.ok());
  CHECK(r->hparams.dim == 64);
  CHECK(r->hparams.n_kv_heads == 4);
  REQUIRE(r->shards.size() == 7);
  for (const auto& s : r->shards) {
    CHECK(s.bytes > 0);
    CHECK(s.flops_per_token > 0);
    CHECK(s.out_bytes_per_token > 0);
  }
  CHECK(r->shards[1].kv_bytes_per_token == 2 * 4 * 8 * 4);  // K and V, 4 kv heads of 8, fp32
  CHECK(r->shards.back().out_bytes_per_token == 4);         // the token id goes home
}
