// Reading the plan_info reply into PlanInfo (src/client/plan_info.h): what each kind of daemon sends, and replies
// that must be refused rather than half-read.
#include <catch2/catch.hpp>

#include "client/plan_info.h"

using namespace ll;
using namespace ll::client;
using Json = proto::Json;

namespace {

// What a leader answers get_plan with while a three-stage plan runs (model_manager status_json + serving.cc).
Json leader_plan() {
  return Json::parse(R"({
    "version": 3, "term": 2, "model": "stories260K", "objective": "latency", "predicted_s_per_token": 0.012,
    "one_stream_s_per_token": 0.012, "pipeline_s_per_token": 0.005, "solver": "glpk", "status": "optimal",
    "solve_seconds": 0.01, "cost_source": "measured", "head_data_endpoint": "tcp://127.0.0.1:7801",
    "stages": [
      {"device": "a", "first_shard": 0, "last_shard": 3, "layers": "embed, 0-2", "memory_used_bytes": 1000,
       "memory_budget_bytes": 5000, "compute_s": 0.002, "transfer_s": 0.001, "bytes_sent_per_token": 256,
       "backup_shards": [4, 5], "next_device": "b"},
      {"device": "b", "first_shard": 4, "last_shard": 6, "layers": "3-4, head"}],
    "observed_stage_ms": [2.5, null],
    "replans": [{"from_version": 1, "to_version": 2, "reason": "b slowed down"}, {"from_version": 2, "reason": "kept"}],
    "devices": [{"device": "a", "state": "ready", "bytes_done": 10, "bytes_total": 10, "bytes_from_cache": 4,
                 "rate_bytes_per_s": 1.5, "error": ""}],
    "local_state": "ready", "self": "a",
    "stage": {"plan_version": 3, "open_sessions": 1, "steps": 40, "batched_steps": 2, "tokens_generated": 39,
              "replayed_sessions": 0, "compute_ms_avg": 1.25, "queue_depth": 0, "emulated_speed": 1.0,
              "bytes_sent": {"tcp://127.0.0.1:7802": 9000}}
  })");
}

}  // namespace

TEST_CASE("PlanInfoReadsEveryFieldALeaderSends", "[client][plan_info]") {
  auto plan = parse_plan_info(leader_plan());
  REQUIRE(plan.ok());
  CHECK(plan->version == 3);
  CHECK(plan->model == "stories260K");
  CHECK(plan->head_data_endpoint == "tcp://127.0.0.1:7801");
  REQUIRE(plan->predicted_s_per_token);
  CHECK(*plan->predicted_s_per_token == Approx(0.012));
  REQUIRE(plan->stages.size() == 2);
  CHECK(plan->stages[0].device == "a");
  CHECK(plan->stages[0].last_shard == 3);
  CHECK(plan->stages[0].backup_shards == std::vector<int64_t>{4, 5});
  CHECK(plan->stages[1].memory_used_bytes == 0);  // absent: the default
  CHECK(plan->observed_stage_ms == std::vector<double>{2.5, 0});
  REQUIRE(plan->replans.size() == 2);
  CHECK(plan->replans[0].to_version == std::optional<uint64_t>(2));
  CHECK_FALSE(plan->replans[1].to_version);
  REQUIRE(plan->devices.size() == 1);
  CHECK(plan->devices[0].bytes_from_cache == 4);
  REQUIRE(plan->stage);
  CHECK(plan->stage->steps == 40);
  CHECK(plan->stage->bytes_sent.at("tcp://127.0.0.1:7802") == 9000);
  CHECK(plan->raw == leader_plan());
}

TEST_CASE("AFollowersPlanHasNoPredictionAndNoModel", "[client][plan_info]") {
  auto plan = parse_plan_info(Json::parse(R"({"version": 3, "head_data_endpoint": "tcp://127.0.0.1:7801",
                                               "stages": [{"device": "a", "first_shard": 0, "last_shard": 6}],
                                               "local_state": "ready", "replans": [], "devices": []})"));
  REQUIRE(plan.ok());
  CHECK_FALSE(plan->predicted_s_per_token);
  CHECK(plan->model.empty());
  CHECK_FALSE(plan->stage);
}

TEST_CASE("ADaemonWithoutAPlanHasNoHead", "[client][plan_info]") {
  auto plan = parse_plan_info(Json::parse(R"({"local_state": "idle", "replans": [], "devices": []})"));
  REQUIRE(plan.ok());
  CHECK(plan->version == 0);
  CHECK(plan->head_data_endpoint.empty());
  CHECK(plan->stages.empty());
}

TEST_CASE("APlanFieldOfTheWrongKindIsMalformedAndNamed", "[client][plan_info]") {
  Json j = leader_plan();
  j["version"] = "three";
  auto plan = parse_plan_info(j);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().code == ErrorCode::kMalformed);
  CHECK_THAT(plan.error().message, Catch::Contains("'version'"));
}

TEST_CASE("AStageOfTheWrongKindIsMalformed", "[client][plan_info]") {
  Json j = leader_plan();
  j["stages"][1]["first_shard"] = -1.5;
  auto plan = parse_plan_info(j);
  REQUIRE_FALSE(plan.ok());
  CHECK_THAT(plan.error().message, Catch::Contains("'first_shard'"));
}

TEST_CASE("AHeadEndpointThatIsNotAnEndpointIsMalformed", "[client][plan_info]") {
  Json j = leader_plan();
  j["head_data_endpoint"] = "http://example.com/; rm -rf";
  auto plan = parse_plan_info(j);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().code == ErrorCode::kMalformed);
  CHECK_THAT(plan.error().message, Catch::Contains("head_data_endpoint"));
}

TEST_CASE("ANegativeByteCountIsMalformed", "[client][plan_info]") {
  Json j = leader_plan();
  j["stage"]["bytes_sent"]["tcp://127.0.0.1:7802"] = -5;
  auto plan = parse_plan_info(j);
  REQUIRE_FALSE(plan.ok());
  CHECK(plan.error().code == ErrorCode::kMalformed);
}

TEST_CASE("EveryHeadErrorCodeReadsBackAsItself", "[client][error]") {
  for (const char* code : {"bad_request", "not_ready", "busy", "internal", "malformed", "unavailable"}) {
    CHECK(std::string(error_code_name(head_error_code(code))) == code);
  }
  CHECK(head_error_code("something_new") == ErrorCode::kInternal);
}
