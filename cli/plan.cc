// `llctl plan`: shows the placement of a model. `--simulate DEVICES.json --model PKG` plans offline with the same
// solver and cost model the leader uses; `--bench` times the solver on synthetic clusters. Live planning (a running
// cluster) is served by the daemon and is not wired here yet. Single-threaded.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/plan_live.h"
#include "common/units.h"
#include "model/manifest.h"
#include "placement/cost_model.h"
#include "placement/exact_dp.h"
#include "placement/heuristics.h"
#include "placement/plan_io.h"
#include "placement/solver.h"
#include "placement/synthetic.h"

namespace ll::cli {
namespace {

using placement::Objective;
using placement::PlacementProblem;
using placement::Plan;

struct PlanOptions {
  std::string simulate;
  std::string model;
  std::string objective = "latency";
  uint64_t context = 0;
  uint64_t max_sessions = 1;  // offline: what one generation needs, unless asked
  bool json = false;
  bool dot = false;
  bool bench = false;
  double time_limit_s = 2;
  std::string method = "auto";
};

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (buffer.str().size() > (1u << 20)) return make_error(path + ": larger than 1 MiB");
  return buffer.str();
}

std::string ms(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", seconds * 1e3);
  return buf;
}

std::string shard_list(const std::vector<int>& shards) {
  if (shards.empty()) return "-";
  std::string out;
  size_t i = 0;
  while (i < shards.size()) {
    size_t j = i;
    while (j + 1 < shards.size() && shards[j + 1] == shards[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(shards[i]);
    if (j > i) out += "-" + std::to_string(shards[j]);
    i = j + 1;
  }
  return out;
}

std::string totals_line(const Plan& plan) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "one stream %.3f ms/token (%.2f tokens/s); full pipeline %.3f ms/token (%.2f tokens/s)",
                plan.latency_s * 1e3, plan.latency_s > 0 ? 1 / plan.latency_s : 0, plan.bottleneck_s * 1e3,
                plan.bottleneck_s > 0 ? 1 / plan.bottleneck_s : 0);
  return buf;
}

void print_table(const PlacementProblem& p, const Plan& plan, const std::string& model_name) {
  std::printf("plan for %s: %d shards on %zu of %d devices, objective %s, context %llu tokens\n", model_name.c_str(),
              p.num_shards(), plan.stages.size(), p.num_devices(), objective_name(plan.objective),
              static_cast<unsigned long long>(p.context));
  std::printf("solver %s: %s in %.3f s; stage times from %s\n", plan.solver.c_str(), plan.status.c_str(),
              plan.solve_seconds,
              plan.cost_source == "measured" ? "measured per-shard times (FLOP/s where missing)" : "FLOP/s");
  std::printf("%-3s %-16s %-9s %-18s %-24s %10s %11s %11s  %s\n", "#", "device", "shards", "layers",
              "memory used / budget", "compute ms", "transfer ms", "bytes/token", "backup shards");
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const auto& s = plan.stages[i];
    const std::string range = std::to_string(s.first_shard) + "-" + std::to_string(s.last_shard);
    const std::string memory =
        format_bytes(s.memory_used_bytes) + " / " + format_bytes(p.devices[s.device].memory_bytes);
    std::printf("%-3zu %-16s %-9s %-18s %-24s %10s %11s %11llu  %s\n", i, p.devices[s.device].name.c_str(),
                range.c_str(), placement::describe_shards(p, s.first_shard, s.last_shard).c_str(), memory.c_str(),
                ms(s.compute_s).c_str(), ms(s.transfer_s).c_str(),
                static_cast<unsigned long long>(s.bytes_sent_per_token), shard_list(s.backup_shards).c_str());
  }
  std::vector<std::string> unused;
  for (int d = 0; d < p.num_devices(); ++d) {
    bool used = std::any_of(plan.stages.begin(), plan.stages.end(), [d](const auto& s) { return s.device == d; });
    if (!used) unused.push_back(p.devices[d].name);
  }
  if (!unused.empty()) {
    std::string list;
    for (const auto& u : unused) list += (list.empty() ? "" : ", ") + u;
    std::printf("left out: %s\n", list.c_str());
  }
  std::printf("predicted: %s\n", totals_line(plan).c_str());
  if (!plan.note.empty()) std::printf("check: %s\n", plan.note.c_str());
}

std::vector<placement::RuleResult> peer_rules(const PlacementProblem& p, Objective objective) {
  std::vector<placement::RuleResult> out;
  for (auto rule : {placement::PeerRule::kEqual, placement::PeerRule::kMemory, placement::PeerRule::kFlops}) {
    out.push_back(placement::apply_peer_rule(p, rule, objective));
  }
  return out;
}

void print_rules(const Plan& best, const std::vector<placement::RuleResult>& rules) {
  std::printf("peer rules under the same cost model (all devices in file order, head first):\n");
  for (const auto& r : rules) {
    if (!r.plan.ok()) {
      std::printf("  %-20s invalid: %s\n", placement::peer_rule_name(r.rule), r.plan.error().c_str());
      continue;
    }
    std::printf("  %-20s %s; %s is %.2fx the plan's\n", placement::peer_rule_name(r.rule), totals_line(*r.plan).c_str(),
                objective_name(best.objective), r.plan->objective_value() / best.objective_value());
  }
}

int run_simulate(const PlanOptions& o) {
  auto objective = placement::parse_objective(o.objective);
  if (!objective.ok()) {
    std::fprintf(stderr, "llctl plan: %s\n", objective.error().c_str());
    return 2;
  }
  auto manifest = load_manifest(o.model);
  if (!manifest.ok()) {
    std::fprintf(stderr, "llctl plan: %s\n", manifest.error().c_str());
    return 1;
  }
  auto text = read_small_file(o.simulate);
  if (!text.ok()) {
    std::fprintf(stderr, "llctl plan: %s\n", text.error().c_str());
    return 1;
  }
  auto cluster = placement::parse_cluster_json(*text);
  if (!cluster.ok()) {
    std::fprintf(stderr, "llctl plan: %s: %s\n", o.simulate.c_str(), cluster.error().c_str());
    return 1;
  }
  auto problem = placement::with_model(std::move(cluster).value(), *manifest, o.context, o.max_sessions);
  if (!problem.ok()) {
    std::fprintf(stderr, "llctl plan: %s\n", problem.error().c_str());
    return 1;
  }
  placement::SolveOptions options;
  options.objective = *objective;
  options.time_limit_s = o.time_limit_s;
  if (o.method == "mip") options.method = placement::Method::kMip;
  if (o.method == "dp") options.method = placement::Method::kDp;
  auto plan = placement::solve_placement(*problem, options);
  if (!plan.ok()) {
    std::fprintf(stderr, "llctl plan: %s\n", plan.error().c_str());
    return 1;
  }
  const auto rules = peer_rules(*problem, *objective);
  if (o.dot) {
    std::fputs(placement::plan_to_dot(*problem, *plan).c_str(), stdout);
  } else if (o.json) {
    auto j = placement::plan_to_json(*problem, *plan);
    j["model"] = manifest->name;
    j["peer_rules"] = nlohmann::json::array();
    for (const auto& r : rules) {
      nlohmann::json rj;
      rj["rule"] = placement::peer_rule_name(r.rule);
      rj["valid"] = r.plan.ok();
      if (r.plan.ok()) {
        rj["predicted_s_per_token"] = r.plan->objective_value();
        rj["one_stream_s_per_token"] = r.plan->latency_s;
        rj["pipeline_s_per_token"] = r.plan->bottleneck_s;
        rj["ratio_to_plan"] = r.plan->objective_value() / plan->objective_value();
      } else {
        rj["error"] = r.plan.error();
      }
      rj["stages"] = nlohmann::json::array();
      for (const auto& s : r.spans) {
        rj["stages"].push_back({{"device", problem->devices[s.device].name},
                                {"first_shard", s.first_shard},
                                {"last_shard", s.last_shard}});
      }
      j["peer_rules"].push_back(std::move(rj));
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    print_table(*problem, *plan, manifest->name);
    print_rules(*plan, rules);
  }
  return 0;
}

// --bench: solver time on 12 devices x 80 layers, and the gain over the peer rules on a 1 : 0.5 : 0.25 cluster.
int run_bench(const PlanOptions& o) {
  using placement::Device;
  auto device = [](std::string name, double gib, double tflops) {
    Device d;
    d.name = std::move(name);
    d.memory_bytes = static_cast<uint64_t>(gib * (1ull << 30));
    d.flops = tflops * 1e12;
    return d;
  };
  const double speeds[3] = {1.0, 0.5, 0.25};
  const double memories[3] = {8, 4, 2};
  placement::SyntheticModel big;  // 80 layers, dim 4096, fp16: ~35 GB with KV for 2048 tokens
  std::vector<Device> twelve;
  for (int d = 0; d < 12; ++d) twelve.push_back(device("dev" + std::to_string(d), memories[d % 3], speeds[d % 3]));
  const auto p12 = placement::synthetic_problem(big, twelve, 50e6, 3e-3);
  std::printf("solver time, 12 devices x 80 layers (%d shards, speeds 1:0.5:0.25, memory 8:4:2 GiB, 50 MB/s, 3 ms):\n",
              p12.num_shards());
  int failures = 0;
  for (Objective objective : {Objective::kLatency, Objective::kThroughput}) {
    for (int rep = 0; rep < 3; ++rep) {
      placement::SolveOptions options;
      options.objective = objective;
      options.time_limit_s = o.time_limit_s;
      options.method = placement::Method::kMip;
      options.cross_check_max_devices = 0;
      options.tie_break_s = 0;  // time the bottleneck solve itself
      const auto t0 = std::chrono::steady_clock::now();
      auto plan = placement::solve_placement(p12, options);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!plan.ok()) {
        std::printf("  %-10s run %d: %s\n", objective_name(objective), rep, plan.error().c_str());
        ++failures;
        continue;
      }
      std::printf("  %-10s run %d: GLPK %s [%s] in %.3f s (%.3f s with the heuristic seed), %zu stages, %s ms/token\n",
                  objective_name(objective), rep, plan->status.c_str(), plan->solver.c_str(), plan->solve_seconds, wall,
                  plan->stages.size(), ms(plan->objective_value()).c_str());
    }
    auto dp = placement::solve_exact_dp(p12, objective);
    if (dp.ok()) {
      std::printf("  %-10s exact DP: %s ms/token in %.3f s\n", objective_name(objective),
                  ms(dp->objective_value()).c_str(), dp->solve_seconds);
      for (const auto& r : peer_rules(p12, objective)) {
        if (r.plan.ok()) {
          std::printf("    vs %-20s %9s ms/token: plan is %.2fx faster\n", placement::peer_rule_name(r.rule),
                      ms(r.plan->objective_value()).c_str(), r.plan->objective_value() / dp->objective_value());
        } else {
          std::printf("    vs %-20s invalid: %s\n", placement::peer_rule_name(r.rule), r.plan.error().c_str());
        }
      }
    }
  }
  placement::SyntheticModel seven;  // a 7B-like model: 32 layers, ~13.7 GB in fp16 with KV for 512 tokens
  seven.layers = 32;
  seven.context = 512;
  for (int head_index : {0, 2}) {
    std::vector<Device> three = {device("fast", 16, 1.0), device("mid", 8, 0.5), device("slow", 4, 0.25)};
    std::rotate(three.begin(), three.begin() + head_index, three.end());  // the head is device 0
    const auto p3 = placement::synthetic_problem(seven, three, 50e6, 3e-3);
    std::printf(
        "gain over the peer rules, 3 devices speeds 1:0.5:0.25 (1 TFLOP/s fastest), memory 4:2:1 (16 GiB "
        "largest), 32 layers, head = %s:\n",
        p3.devices[0].name.c_str());
    for (Objective objective : {Objective::kLatency, Objective::kThroughput}) {
      placement::SolveOptions options;
      options.objective = objective;
      auto plan = placement::solve_placement(p3, options);
      if (!plan.ok()) {
        std::printf("  %s: %s\n", objective_name(objective), plan.error().c_str());
        ++failures;
        continue;
      }
      std::string stages;
      for (const auto& s : plan->stages) {
        stages += (stages.empty() ? "" : " | ") + p3.devices[s.device].name + " " + std::to_string(s.first_shard) +
                  "-" + std::to_string(s.last_shard);
      }
      std::printf("  %-10s plan %s ms/token (%s) [%s]\n", objective_name(objective),
                  ms(plan->objective_value()).c_str(), plan->status.c_str(), stages.c_str());
      for (const auto& r : peer_rules(p3, objective)) {
        if (r.plan.ok()) {
          std::printf("    vs %-20s %9s ms/token: plan is %.2fx faster\n", placement::peer_rule_name(r.rule),
                      ms(r.plan->objective_value()).c_str(), r.plan->objective_value() / plan->objective_value());
        } else {
          std::printf("    vs %-20s invalid: %s\n", placement::peer_rule_name(r.rule), r.plan.error().c_str());
        }
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void add_plan_command(CLI::App& app, GlobalOptions& global) {
  auto options = std::make_shared<PlanOptions>();
  auto* sub = app.add_subcommand("plan", "show or simulate the placement of a model");
  sub->add_option("--simulate", options->simulate, "plan offline for the devices and links in DEVICES.json");
  sub->add_option("--model", options->model, "model package folder (with manifest.json)");
  sub->add_option("--objective", options->objective, "latency (sum of stages) or throughput (slowest stage)")
      ->check(CLI::IsMember({"latency", "throughput"}));
  sub->add_option("--context", options->context, "tokens of KV cache to reserve (default: the model's)");
  sub->add_option("--max-sessions", options->max_sessions,
                  "--simulate: generations in flight at once, KV reserved for each (default 1)")
      ->check(CLI::Range(1, 256));
  auto* json = sub->add_flag("--json", options->json, "print the plan as JSON");
  auto* dot = sub->add_flag("--dot", options->dot, "print the ring as a Graphviz graph");
  json->excludes(dot);
  sub->add_option("--time-limit", options->time_limit_s,
                  "GLPK time limit in seconds (default 2; then the exact DP if <= 12 devices)");
  sub->add_option("--method", options->method, "auto (GLPK, DP fallback and cross-check), mip or dp")
      ->check(CLI::IsMember({"auto", "mip", "dp"}));
  sub->add_flag("--bench", options->bench, "time the solver on synthetic clusters and print the gain over peer rules");
  sub->callback([options, &global] {
    if (options->bench) {
      global.exit_code = run_bench(*options);
      return;
    }
    if (options->simulate.empty()) {
      global.exit_code = run_live_plan(
          LivePlanOptions{options->model, options->objective, options->context, options->json, options->dot}, global);
      return;
    }
    if (options->model.empty()) {
      std::fprintf(stderr, "llctl plan: --simulate needs --model PKG\n");
      global.exit_code = 2;
      return;
    }
    global.exit_code = run_simulate(*options);
  });
}

}  // namespace ll::cli
