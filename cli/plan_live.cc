// llctl plan on a running cluster: the plan in force (version, stages, predicted vs observed stage times, re-plan
// history), or — with --model PKG — what the leader would plan for that package now, without deploying it.
#include <cstdio>

#include "cli/plan_live.h"
#include "client/control_client.h"
#include "common/units.h"

namespace ll::cli {
namespace {

void print_dot(const client::PlanInfo& plan) {
  std::printf("digraph ring {\n  rankdir=LR;\n  node [shape=box];\n");
  const auto& stages = plan.stages;
  for (size_t i = 0; i < stages.size(); ++i) {
    std::printf("  s%zu [label=\"%s\\n%s\"];\n", i, stages[i].device.c_str(), stages[i].layers.c_str());
  }
  for (size_t i = 0; i + 1 < stages.size(); ++i) std::printf("  s%zu -> s%zu;\n", i, i + 1);
  if (stages.size() > 1) std::printf("  s%zu -> s0 [label=\"token\", style=dashed];\n", stages.size() - 1);
  std::printf("}\n");
}

void print_table(const client::PlanInfo& plan) {
  std::printf("plan %llu: %s, objective %s, predicted %.3f ms/token (one stream %.3f, full pipeline %.3f)\n",
              static_cast<unsigned long long>(plan.version), plan.model.empty() ? "?" : plan.model.c_str(),
              plan.objective.empty() ? "?" : plan.objective.c_str(), plan.predicted_s_per_token.value_or(0) * 1000,
              plan.one_stream_s_per_token * 1000, plan.pipeline_s_per_token * 1000);
  if (!plan.prediction_source.empty()) {
    std::printf("prediction %s", plan.prediction_source.c_str());
    if (plan.planned_s_per_token && plan.predicted_s_per_token &&
        *plan.planned_s_per_token != *plan.predicted_s_per_token) {
      std::printf(" (planned at %.3f ms/token)", *plan.planned_s_per_token * 1000);
    }
    std::printf("\n");
  }
  std::printf("solver %s: %s in %.3f s; stage times from %s\n", plan.solver.empty() ? "?" : plan.solver.c_str(),
              plan.status.empty() ? "?" : plan.status.c_str(), plan.solve_seconds,
              plan.cost_source.empty() ? "?" : plan.cost_source.c_str());
  std::printf("%-3s %-14s %-8s %-16s %-22s %10s %11s %11s %9s  %s\n", "#", "device", "shards", "layers",
              "memory used / budget", "compute ms", "observed ms", "transfer ms", "bytes/tok", "backups");
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const auto& s = plan.stages[i];
    char observed_ms[32] = "-";
    if (i < plan.observed_stage_ms.size() && plan.observed_stage_ms[i] > 0) {
      std::snprintf(observed_ms, sizeof observed_ms, "%.3f", plan.observed_stage_ms[i]);
    }
    std::string backups;
    for (int64_t b : s.backup_shards) backups += std::to_string(b) + " ";
    std::printf("%-3zu %-14s %3lld-%-4lld %-16s %10s / %-9s %10.3f %11s %11.3f %9llu  %s\n", i,
                s.device.empty() ? "?" : s.device.c_str(), static_cast<long long>(s.first_shard),
                static_cast<long long>(s.last_shard), s.layers.c_str(), format_bytes(s.memory_used_bytes).c_str(),
                format_bytes(s.memory_budget_bytes).c_str(), s.compute_s * 1000, observed_ms, s.transfer_s * 1000,
                static_cast<unsigned long long>(s.bytes_sent_per_token), backups.empty() ? "-" : backups.c_str());
  }
  if (!plan.replans.empty()) std::printf("re-plans:\n");
  for (const auto& r : plan.replans) {
    std::printf("  from plan %llu%s: %s\n", static_cast<unsigned long long>(r.from_version),
                r.to_version ? (" to " + std::to_string(*r.to_version)).c_str() : " (kept)", r.reason.c_str());
  }
}

}  // namespace

int run_live_plan(const LivePlanOptions& options, const GlobalOptions& global) {
  const auto control = client::ControlClient::from_list(global.endpoint, "llctl");
  client::ClientResult<client::PlanInfo> plan = client::ClientError{client::ErrorCode::kInternal, ""};
  if (!options.model.empty()) {
    auto leader = control.leader_endpoint();
    if (!leader) {
      std::fprintf(stderr, "llctl plan: %s\n", leader.error().message.c_str());
      return 1;
    }
    client::LoadRequest request;
    request.package = options.model;
    request.objective = options.objective;
    request.context = options.context;
    request.dry_run = true;
    plan = client::ControlClient({*leader}, "llctl").load(request);
  } else {
    plan = control.get_plan();
    // A follower knows its own stage; the leader knows the whole plan with its predictions. --json shows the
    // asked daemon's own view (its stage's counters included); the table is the leader's.
    if (plan && !options.json && !plan->predicted_s_per_token) {
      auto leader = control.leader_endpoint();
      if (leader) {
        auto full = client::ControlClient({*leader}, "llctl").get_plan();
        if (full) plan = std::move(full);
      }
    }
  }
  if (!plan) {
    std::fprintf(stderr, "llctl plan: %s\n", plan.error().message.c_str());
    return 1;
  }
  if (plan->stages.empty()) {
    std::fprintf(stderr, "llctl plan: no model is loaded (llctl load PKG, or llctl plan --model PKG)\n");
    return 1;
  }
  if (options.json)
    std::printf("%s\n", plan->raw.dump(1).c_str());
  else if (options.dot)
    print_dot(*plan);
  else
    print_table(*plan);
  return 0;
}

}  // namespace ll::cli
