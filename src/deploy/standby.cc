#include "deploy/standby.h"

#include <set>

namespace ll::deploy {

std::vector<proto::PlanStandby> plan_standby(const placement::PlacementProblem& problem,
                                             const std::vector<proto::PlanStage>& ring) {
  // A device outside the ring keeps disk copies of whole stages — as many as its memory budget could run, the
  // stages after the head first (the head is the leader, whose loss also elects a new one) — then of the shards
  // next to them, which a re-plan over fewer devices moves across a boundary; so that losing a stage finds a device
  // that fetches nothing: the pause is then loading and the replay.
  std::vector<proto::PlanStandby> out;
  std::set<std::string> in_ring;
  for (const auto& st : ring) in_ring.insert(st.device);
  const size_t stages = ring.size();
  const int64_t n = problem.num_shards();
  size_t first = stages > 1 ? 1 : 0;
  for (const auto& device : problem.devices) {
    if (in_ring.count(device.name)) continue;
    std::vector<bool> held(static_cast<size_t>(n), false);
    uint64_t room = device.memory_bytes;
    auto take = [&](int64_t i) {
      if (i < 0 || i >= n || held[i] || problem.shards[i].bytes > room) return false;
      held[i] = true;
      room -= problem.shards[i].bytes;
      return true;
    };
    for (size_t k = 0; k < stages; ++k) {
      const auto& st = ring[(first + k) % stages];
      uint64_t bytes = 0;
      for (int64_t i = st.first_shard; i <= st.last_shard; ++i) bytes += held[i] ? 0 : problem.shards[i].bytes;
      if (bytes > room) continue;
      for (int64_t i = st.first_shard; i <= st.last_shard; ++i) (void)take(i);
    }
    for (bool grew = true; grew;) {  // outward from what it holds, one shard each side per round
      grew = false;
      std::vector<int64_t> edges;
      for (int64_t i = 0; i < n; ++i) {
        if (held[i] && i > 0 && !held[i - 1]) edges.push_back(i - 1);
        if (held[i] && i + 1 < n && !held[i + 1]) edges.push_back(i + 1);
      }
      for (int64_t i : edges) grew = take(i) || grew;
    }
    proto::PlanStandby standby{device.name, {}};
    for (int64_t i = 0; i < n; ++i) {
      if (held[i]) standby.backup_shards.push_back(i);
    }
    first = stages > 1 ? 1 + first % (stages - 1) : 0;  // the next spare starts with the next stage
    if (!standby.backup_shards.empty()) out.push_back(std::move(standby));
  }
  return out;
}

}  // namespace ll::deploy
