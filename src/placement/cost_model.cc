// Implementation of the placement cost model. Stateless; thread-safe.
#include "placement/cost_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/units.h"

namespace ll::placement {

const char* objective_name(Objective objective) { return objective == Objective::kLatency ? "latency" : "throughput"; }

Result<Objective> parse_objective(const std::string& text) {
  if (text == "latency") return Objective::kLatency;
  if (text == "throughput") return Objective::kThroughput;
  return make_error("unknown objective '" + text + "' (expected latency or throughput)");
}

void PlacementProblem::set_link(int from, int to, double bandwidth_bytes_per_s, double latency_s) {
  const size_t n = devices.size();
  if (links.size() != n) links.assign(n, std::vector<Link>(n));
  links[from][to] = Link{true, bandwidth_bytes_per_s, latency_s};
}

std::vector<StageSpan> Plan::spans() const {
  std::vector<StageSpan> out;
  for (const auto& s : stages) out.push_back(StageSpan{s.device, s.first_shard, s.last_shard});
  return out;
}

Status validate_problem(const PlacementProblem& p) {
  const int n = p.num_shards();
  const int d = p.num_devices();
  if (n == 0) return make_error("placement: the model has no shards");
  if (d == 0) return make_error("placement: no devices");
  if (p.sessions == 0) return make_error("placement: sessions must be at least 1");
  if (p.head < 0 || p.head >= d) return make_error("placement: head device index out of range");
  if (!(p.hop_overhead_s >= 0) || !std::isfinite(p.hop_overhead_s) || !(p.step_overhead_s >= 0) ||
      !std::isfinite(p.step_overhead_s)) {
    return make_error("placement: hop and step overheads must be finite and >= 0");
  }
  if (static_cast<int>(p.links.size()) != d) return make_error("placement: links matrix has the wrong size");
  for (int a = 0; a < d; ++a) {
    const Device& dev = p.devices[a];
    if (static_cast<int>(p.links[a].size()) != d) return make_error("placement: links matrix has the wrong size");
    const bool measured = static_cast<int>(dev.shard_seconds.size()) == n;
    if (!dev.shard_seconds.empty() && !measured) {
      return make_error("placement: device '" + dev.name + "' has " + std::to_string(dev.shard_seconds.size()) +
                        " shard timings for " + std::to_string(n) + " shards");
    }
    if (!(dev.flops > 0) || !std::isfinite(dev.flops)) {
      bool all_measured = measured && std::all_of(dev.shard_seconds.begin(), dev.shard_seconds.end(),
                                                  [](double s) { return s >= 0 && std::isfinite(s); });
      if (!all_measured) return make_error("placement: device '" + dev.name + "' needs flops > 0");
    }
    for (int b = 0; b < d; ++b) {
      const Link& l = p.links[a][b];
      if (!l.present || a == b) continue;
      if (!(l.bandwidth_bytes_per_s > 0) || !std::isfinite(l.bandwidth_bytes_per_s) || !(l.latency_s >= 0) ||
          !std::isfinite(l.latency_s)) {
        return make_error("placement: link " + dev.name + " -> " + p.devices[b].name +
                          " needs bandwidth > 0 and latency >= 0");
      }
    }
  }
  for (const auto& s : p.shards) {
    if (!(s.flops_per_token >= 0) || !std::isfinite(s.flops_per_token)) {
      return make_error("placement: shard " + std::to_string(s.id) + " has invalid flops_per_token");
    }
  }
  return Status::Ok();
}

double shard_seconds(const PlacementProblem& p, int shard, int device) {
  const Device& d = p.devices[device];
  if (static_cast<int>(d.shard_seconds.size()) == p.num_shards() && d.shard_seconds[shard] >= 0) {
    return d.shard_seconds[shard];
  }
  return p.shards[shard].flops_per_token / d.flops;
}

bool uses_measured_times(const PlacementProblem& p) {
  for (const auto& d : p.devices) {
    if (!d.shard_seconds.empty() && static_cast<int>(d.shard_seconds.size()) == p.num_shards()) return true;
  }
  return false;
}

uint64_t shard_memory(const PlacementProblem& p, int shard) {
  const ShardInfo& s = p.shards[shard];
  return s.bytes + s.kv_bytes_per_token * p.context * p.sessions;
}

uint64_t stage_output_bytes(const PlacementProblem& p, int last_shard) {
  return last_shard == p.num_shards() - 1 ? kTokenIdBytes : p.shards[last_shard].out_bytes_per_token;
}

double transfer_seconds(const PlacementProblem& p, int from, int to, uint64_t bytes) {
  const Link& l = p.link(from, to);
  return static_cast<double>(bytes) / l.bandwidth_bytes_per_s + l.latency_s + p.hop_overhead_s;
}

namespace {
bool same_link(const Link& a, const Link& b) {
  return a.present == b.present &&
         (!a.present || (a.bandwidth_bytes_per_s == b.bandwidth_bytes_per_s && a.latency_s == b.latency_s));
}
}  // namespace

bool interchangeable(const PlacementProblem& p, int d1, int d2) {
  if (d1 == d2 || d1 == p.head || d2 == p.head) return false;
  const Device& a = p.devices[d1];
  const Device& b = p.devices[d2];
  if (a.memory_bytes != b.memory_bytes || a.flops != b.flops || a.shard_seconds != b.shard_seconds) return false;
  if (!same_link(p.link(d1, d2), p.link(d2, d1))) return false;
  for (int c = 0; c < p.num_devices(); ++c) {
    if (c == d1 || c == d2) continue;
    if (!same_link(p.link(d1, c), p.link(d2, c)) || !same_link(p.link(c, d1), p.link(c, d2))) return false;
  }
  return true;
}

Result<Plan> evaluate_plan(const PlacementProblem& p, const std::vector<StageSpan>& spans, Objective objective) {
  const int n = p.num_shards();
  const int k = static_cast<int>(spans.size());
  if (k == 0) return make_error("plan has no stages");
  // The plan's first device is its head: a plan in force is priced as it is, whichever device the problem names as
  // head (the incumbent of a re-plan, or the leader; the solver chooses the head, docs/placement.md).
  const int head = spans[0].device;
  if (head < 0 || head >= p.num_devices()) return make_error("plan: device index out of range");
  std::vector<bool> used(p.num_devices(), false);
  int next_shard = 0;
  for (const auto& s : spans) {
    if (s.device < 0 || s.device >= p.num_devices()) return make_error("plan: device index out of range");
    if (used[s.device]) return make_error("plan: device '" + p.devices[s.device].name + "' used twice");
    used[s.device] = true;
    if (s.first_shard != next_shard || s.last_shard < s.first_shard || s.last_shard >= n) {
      return make_error("plan: stage runs do not cover the shards in order");
    }
    next_shard = s.last_shard + 1;
  }
  if (next_shard != n) return make_error("plan: stage runs do not cover all shards");

  Plan plan;
  plan.objective = objective;
  plan.cost_source = uses_measured_times(p) ? "measured" : "flops";
  for (int si = 0; si < k; ++si) {
    const StageSpan& span = spans[si];
    Stage st;
    st.device = span.device;
    st.first_shard = span.first_shard;
    st.last_shard = span.last_shard;
    for (int i = span.first_shard; i <= span.last_shard; ++i) {
      st.compute_s += shard_seconds(p, i, span.device);
      st.memory_used_bytes += shard_memory(p, i);
    }
    if (si == 0) st.overhead_s = p.step_overhead_s;
    const Device& dev = p.devices[span.device];
    if (st.memory_used_bytes > dev.memory_bytes) {
      return make_error("plan: stage on '" + dev.name + "' needs " + format_bytes(st.memory_used_bytes) + " of " +
                        format_bytes(dev.memory_bytes));
    }
    if (k > 1) {
      st.next_device = si + 1 < k ? spans[si + 1].device : head;
      if (!p.link(st.device, st.next_device).present) {
        return make_error("plan: no link " + dev.name + " -> " + p.devices[st.next_device].name);
      }
      st.bytes_sent_per_token = stage_output_bytes(p, span.last_shard);
      st.transfer_s = transfer_seconds(p, st.device, st.next_device, st.bytes_sent_per_token);
    }
    plan.latency_s += st.time_s();
    plan.bottleneck_s = std::max(plan.bottleneck_s, st.time_s());
    plan.stages.push_back(std::move(st));
  }
  plan.status = "evaluated";
  return plan;
}

}  // namespace ll::placement
