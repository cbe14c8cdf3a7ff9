// plan_standby: which shard copies the devices outside the ring keep, so that a failover fetches nothing.
#include "deploy/standby.h"

#include <catch2/catch.hpp>

using namespace ll;

namespace {

placement::PlacementProblem problem_with(int shards, uint64_t shard_bytes, const std::vector<uint64_t>& budgets) {
  placement::PlacementProblem p;
  for (int i = 0; i < shards; ++i) {
    ShardInfo s;
    s.id = i;
    s.bytes = shard_bytes;
    p.shards.push_back(s);
  }
  for (size_t d = 0; d < budgets.size(); ++d) {
    placement::Device device;
    device.name = "d" + std::to_string(d);
    device.memory_bytes = budgets[d];
    p.devices.push_back(device);
  }
  return p;
}

proto::PlanStage stage(const std::string& device, int first, int last) {
  proto::PlanStage s;
  s.device = device;
  s.first_shard = first;
  s.last_shard = last;
  return s;
}

}  // namespace

TEST_CASE("SpareKeepsTheStageAfterTheHeadThenTheShardsNextToIt", "[deploy][standby]") {
  // 14 shards of 10 bytes; the spare could run 11 of them: stage 1 (6..13, 8 shards), then 5, 4, 3 next to it.
  auto problem = problem_with(14, 10, {200, 200, 110});
  auto standby = deploy::plan_standby(problem, {stage("d0", 0, 5), stage("d1", 6, 13)});
  REQUIRE(standby.size() == 1);
  CHECK(standby[0].device == "d2");
  CHECK(standby[0].backup_shards == std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
}

TEST_CASE("SparesStartWithDifferentStagesSoEveryStageHasACopy", "[deploy][standby]") {
  auto problem = problem_with(12, 10, {100, 100, 100, 40, 40, 40});
  auto standby = deploy::plan_standby(problem, {stage("d0", 0, 3), stage("d1", 4, 7), stage("d2", 8, 11)});
  REQUIRE(standby.size() == 3);
  CHECK(standby[0].backup_shards == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(standby[1].backup_shards == std::vector<int64_t>{8, 9, 10, 11});
  CHECK(standby[2].backup_shards == std::vector<int64_t>{4, 5, 6, 7});
}

TEST_CASE("DevicesInTheRingAndDevicesTooSmallKeepNothing", "[deploy][standby]") {
  auto problem = problem_with(4, 10, {40, 40, 5});
  auto standby = deploy::plan_standby(problem, {stage("d0", 0, 1), stage("d1", 2, 3)});
  CHECK(standby.empty());
}
