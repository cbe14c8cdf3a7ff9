// llctl plan on a running cluster: the plan in force (version, stages, predicted vs observed stage times, re-plan
// history), or — with --model PKG — what the leader would plan for that package now, without deploying it.
#include <cstdio>

#include "cli/cluster_ops.h"
#include "cli/plan_live.h"
#include "common/units.h"

namespace ll::cli {
namespace {

void print_dot(const proto::Json& plan) {
  std::printf("digraph ring {\n  rankdir=LR;\n  node [shape=box];\n");
  const auto& stages = plan["stages"];
  for (size_t i = 0; i < stages.size(); ++i) {
    std::printf("  s%zu [label=\"%s\\n%s\"];\n", i, stages[i].value("device", "?").c_str(),
                stages[i].value("layers", "").c_str());
  }
  for (size_t i = 0; i + 1 < stages.size(); ++i) std::printf("  s%zu -> s%zu;\n", i, i + 1);
  if (stages.size() > 1) std::printf("  s%zu -> s0 [label=\"token\", style=dashed];\n", stages.size() - 1);
  std::printf("}\n");
}

void print_table(const proto::Json& plan) {
  std::printf("plan %llu: %s, objective %s, predicted %.3f ms/token (one stream %.3f, full pipeline %.3f)\n",
              static_cast<unsigned long long>(plan.value("version", uint64_t{0})), plan.value("model", "?").c_str(),
              plan.value("objective", "?").c_str(), plan.value("predicted_s_per_token", 0.0) * 1000,
              plan.value("one_stream_s_per_token", 0.0) * 1000, plan.value("pipeline_s_per_token", 0.0) * 1000);
  std::printf("solver %s: %s in %.3f s; stage times from %s\n", plan.value("solver", "?").c_str(),
              plan.value("status", "?").c_str(), plan.value("solve_seconds", 0.0),
              plan.value("cost_source", "?").c_str());
  std::printf("%-3s %-14s %-8s %-16s %-22s %10s %11s %11s %9s  %s\n", "#", "device", "shards", "layers",
              "memory used / budget", "compute ms", "observed ms", "transfer ms", "bytes/tok", "backups");
  const auto& stages = plan["stages"];
  const proto::Json observed = plan.value("observed_stage_ms", proto::Json::array());
  for (size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    char observed_ms[32] = "-";
    if (i < observed.size() && observed[i].get<double>() > 0) {
      std::snprintf(observed_ms, sizeof observed_ms, "%.3f", observed[i].get<double>());
    }
    std::string backups;
    for (const auto& b : s.value("backup_shards", proto::Json::array())) backups += std::to_string(b.get<int>()) + " ";
    std::printf("%-3zu %-14s %3d-%-4d %-16s %10s / %-9s %10.3f %11s %11.3f %9llu  %s\n", i,
                s.value("device", "?").c_str(), s.value("first_shard", 0), s.value("last_shard", 0),
                s.value("layers", "").c_str(), format_bytes(s.value("memory_used_bytes", uint64_t{0})).c_str(),
                format_bytes(s.value("memory_budget_bytes", uint64_t{0})).c_str(), s.value("compute_s", 0.0) * 1000,
                observed_ms, s.value("transfer_s", 0.0) * 1000,
                static_cast<unsigned long long>(s.value("bytes_sent_per_token", uint64_t{0})),
                backups.empty() ? "-" : backups.c_str());
  }
  const auto replans = plan.value("replans", proto::Json::array());
  if (!replans.empty()) std::printf("re-plans:\n");
  for (const auto& r : replans) {
    std::printf(
        "  from plan %llu%s: %s\n", static_cast<unsigned long long>(r.value("from_version", uint64_t{0})),
        r.contains("to_version") ? (" to " + std::to_string(r["to_version"].get<uint64_t>())).c_str() : " (kept)",
        r.value("reason", "").c_str());
  }
}

}  // namespace

int run_live_plan(const LivePlanOptions& options, const GlobalOptions& global) {
  Result<proto::Json> plan = make_error("");
  if (!options.model.empty()) {
    auto leader = find_leader_endpoint(global.endpoint);
    if (!leader) {
      std::fprintf(stderr, "llctl plan: %s\n", leader.error().c_str());
      return 1;
    }
    proto::Json body = {{"package", options.model},
                        {"objective", options.objective},
                        {"context", options.context},
                        {"wire", "float32"},
                        {"dry_run", true}};
    auto reply = ask_daemon(*leader, proto::MessageType::kLoad, proto::MessageType::kPlanInfo, body, 60000);
    if (reply)
      plan = reply->body;
    else
      plan = reply.take_error();
  } else {
    plan = get_plan(global.endpoint);
    // A follower knows its own stage; the leader knows the whole plan with its predictions. --json shows the
    // asked daemon's own view (its stage's counters included); the table is the leader's.
    if (plan && !options.json && !plan->contains("predicted_s_per_token")) {
      auto leader = find_leader_endpoint(global.endpoint);
      if (leader) {
        auto full = get_plan(*leader);
        if (full) plan = std::move(full);
      }
    }
  }
  if (!plan) {
    std::fprintf(stderr, "llctl plan: %s\n", plan.error().c_str());
    return 1;
  }
  if (!plan->contains("stages") || (*plan)["stages"].empty()) {
    std::fprintf(stderr, "llctl plan: no model is loaded (llctl load PKG, or llctl plan --model PKG)\n");
    return 1;
  }
  if (options.json)
    std::printf("%s\n", plan->dump(1).c_str());
  else if (options.dot)
    print_dot(*plan);
  else
    print_table(*plan);
  return 0;
}

}  // namespace ll::cli
