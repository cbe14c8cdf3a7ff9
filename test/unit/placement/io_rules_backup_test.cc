// DEVICES.json parsing, plan JSON/DOT output, the peer rules and backup shards.
#include <catch2/catch.hpp>

#include "placement/cost_model.h"
#include "placement/heuristics.h"
#include "placement/plan_io.h"
#include "placement/solver.h"
#include "placement_test_util.h"

namespace ll::placement {
namespace {

using testing::make_device;
using testing::uniform_problem;

const char* kCluster = R"({"devices":[{"name":"a","memory_bytes":100,"flops":1e9},
  {"name":"b","memory_bytes":200,"flops":2e9,"head":true,"shard_seconds":[0.1,-1]}],
  "links":[{"from":"a","to":"b","bandwidth_bytes_per_s":1e6,"latency_s":0.001}]})";

TEST_CASE("devices file: head flag, directed links and timings are read") {
  auto p = parse_cluster_json(kCluster);
  REQUIRE(p.ok());
  CHECK(p->head == 1);
  CHECK(p->devices[1].shard_seconds.size() == 2);
  CHECK(p->link(0, 1).present);
  CHECK_FALSE(p->link(1, 0).present);  // directed: the reverse is missing
  CHECK(p->link(0, 1).bandwidth_bytes_per_s == 1e6);
}

TEST_CASE("devices file without a head flag makes the first device the head") {
  auto p = parse_cluster_json(
      R"({"devices":[{"name":"x","memory_bytes":1,"flops":1},{"name":"y","memory_bytes":1,"flops":1}]})");
  REQUIRE(p.ok());
  CHECK(p->head == 0);
}

TEST_CASE("devices file errors name the field instead of crashing") {
  auto err = [](const char* text) {
    auto p = parse_cluster_json(text);
    REQUIRE_FALSE(p.ok());
    return p.error();
  };
  CHECK(err("not json").find("not a JSON object") != std::string::npos);
  CHECK(err(R"({"devices":[]})").find("devices") != std::string::npos);
  CHECK(err(R"({"devices":[{"name":"a","memory_bytes":1,"flops":0}]})").find("flops") != std::string::npos);
  CHECK(err(R"({"devices":[{"name":"a","memory_bytes":1,"flops":1},{"name":"a","memory_bytes":1,"flops":1}]})")
            .find("duplicate") != std::string::npos);
  CHECK(
      err(R"({"devices":[{"name":"a","memory_bytes":1,"flops":1,"head":true},{"name":"b","memory_bytes":1,"flops":1,"head":true}]})")
          .find("more than one") != std::string::npos);
  CHECK(
      err(R"({"devices":[{"name":"a","memory_bytes":1,"flops":1}],"links":[{"from":"a","to":"zz","bandwidth_bytes_per_s":1,"latency_s":0}]})")
          .find("unknown device 'zz'") != std::string::npos);
  CHECK(err(R"({"devices":[{"name":"a","memory_bytes":-5,"flops":1}]})").find("memory_bytes") != std::string::npos);
}

TEST_CASE("shard timings of the wrong length are rejected before solving") {
  auto p = parse_cluster_json(kCluster);
  REQUIRE(p.ok());
  Manifest m;
  m.hparams.context_length = 8;
  for (int i = 0; i < 3; ++i) m.shards.push_back(testing::make_shard(i, 10, 1e6, 100));
  auto with = with_model(*p, m, 0);
  REQUIRE_FALSE(with.ok());
  CHECK(with.error().find("shard timings") != std::string::npos);
}

TEST_CASE("plan JSON carries the fields tools rely on") {
  auto p = uniform_problem({make_device("head", 30, 1e9), make_device("b", 100, 2e9)}, 6, 10, 1e6, 4096);
  auto plan = solve_placement(p, SolveOptions{});
  REQUIRE(plan.ok());
  const auto j = plan_to_json(p, *plan);
  CHECK(j.at("objective") == "latency");
  CHECK(j.at("predicted_s_per_token").get<double>() == Approx(plan->latency_s));
  REQUIRE(j.at("stages").size() == plan->stages.size());
  CHECK(j.at("stages")[0].at("device") == "head");
  CHECK(j.at("stages")[0].at("first_shard") == 0);
  CHECK(j.at("stages").back().at("last_shard") == 5);
  CHECK(j.at("optimal") == true);
  const std::string dot = plan_to_dot(p, *plan);
  CHECK(dot.find("digraph ring") == 0);
  if (plan->stages.size() > 1) CHECK(dot.find("-> s0") != std::string::npos);  // the ring closes at the head
}

TEST_CASE("peer rules split in proportion and keep every device, head first") {
  auto p = uniform_problem({make_device("a", 1000, 1e9), make_device("head", 4000, 4e9), make_device("c", 2000, 2e9)},
                           10, 10, 1e6, 4096);
  p.head = 1;
  auto equal = apply_peer_rule(p, PeerRule::kEqual, Objective::kLatency);
  REQUIRE(equal.spans.size() == 3);
  CHECK(equal.spans[0].device == 1);
  CHECK(equal.spans[0].last_shard - equal.spans[0].first_shard + 1 >= 3);
  auto memory = apply_peer_rule(p, PeerRule::kMemory, Objective::kLatency);
  REQUIRE(memory.plan.ok());
  // 1 each + 7 extra shared 4:1:2 -> head 1+4, a 1+1, c 1+2.
  CHECK(memory.spans[0].last_shard - memory.spans[0].first_shard + 1 == 5);
  CHECK(memory.spans[1].device == 0);
  CHECK(memory.spans[1].last_shard - memory.spans[1].first_shard + 1 == 2);
  CHECK(memory.spans[2].last_shard == 9);
}

TEST_CASE("peer rule that overflows a device is reported invalid, not priced") {
  auto p = uniform_problem({make_device("head", 15, 1e9), make_device("b", 1000, 1e9)}, 6, 10, 1e6, 4096);
  auto equal = apply_peer_rule(p, PeerRule::kEqual, Objective::kThroughput);
  CHECK_FALSE(equal.plan.ok());
}

TEST_CASE("backup shards are neighbours of the run, contiguous, and fit the spare memory") {
  auto p = uniform_problem({make_device("head", 45, 1e9), make_device("b", 35, 2e9), make_device("c", 1000, 1e8)}, 6,
                           10, 1e6, 4096);
  auto plan = evaluate_plan(p, {StageSpan{0, 0, 1}, StageSpan{1, 2, 4}, StageSpan{2, 5, 5}}, Objective::kLatency);
  REQUIRE(plan.ok());
  const Plan with = add_backup_shards(p, *plan);
  CHECK(with.stages[0].backup_shards == std::vector<int>{2, 3});  // 20 + 20 of spare 25: two to the right
  CHECK(with.stages[1].backup_shards.empty());                    // spare 5 < 10
  CHECK(with.stages[2].backup_shards == std::vector<int>{0, 1, 2, 3, 4});
  for (const auto& s : with.stages) {
    CHECK(s.memory_used_bytes + s.backup_bytes <= p.devices[s.device].memory_bytes);
  }
}

}  // namespace
}  // namespace ll::placement
