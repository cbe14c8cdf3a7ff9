// Reading cluster descriptions (DEVICES.json) and writing plans (JSON for tools and the daemon, Graphviz DOT).
// DEVICES.json: {"devices":[{"name","memory_bytes","flops","head":true?, "shard_seconds":[..]?}],
//                "links":[{"from","to","bandwidth_bytes_per_s","latency_s"}]}  — links are directed.
// Stateless; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "lingualinked/result.h"
#include "model/manifest.h"
#include "placement/problem.h"

namespace ll::placement {

// Devices, head and links from DEVICES.json text (untrusted: every field is checked). Shards are left empty.
// Without any "head": true the first device is the head; more than one is an error.
[[nodiscard]] Result<PlacementProblem> parse_cluster_json(std::string_view text);

// Adds the manifest's shards, the context length (0: the model's context_length) and the sessions in flight at once
// (each stage reserves KV for every one of them).
[[nodiscard]] Result<PlacementProblem> with_model(PlacementProblem problem, const Manifest& manifest, uint64_t context,
                                                  uint64_t sessions = 1);

// The plan as JSON: objective, predicted_s_per_token (the objective's value), one_stream_s_per_token,
// pipeline_s_per_token, solver, status, optimal, solve_seconds, cost_source, hop_overhead_s, step_overhead_s, note,
// stages[] with device, first_shard, last_shard, layers, compute_s, transfer_s, overhead_s, time_s,
// bytes_sent_per_token, memory_used_bytes, memory_budget_bytes, backup_shards, next_device.
[[nodiscard]] nlohmann::json plan_to_json(const PlacementProblem& problem, const Plan& plan);

// A Graphviz digraph of the ring: one node per stage (device, shard and layer range), edges with bytes/token.
[[nodiscard]] std::string plan_to_dot(const PlacementProblem& problem, const Plan& plan);

// "embed", "L0-L3", "L4-L7+head": what a shard range holds, from the shard kinds and layer numbers.
[[nodiscard]] std::string describe_shards(const PlacementProblem& problem, int first, int last);

}  // namespace ll::placement
