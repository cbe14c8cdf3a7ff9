// llctl load PKG: asks the leader to plan and deploy a model package, then draws each device's progress (bytes,
// rate) until every stage reports ready. Also the cluster-side helpers other subcommands share: finding the leader
// and reading the current plan.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/cluster_ops.h"
#include "cli/commands.h"
#include "common/units.h"

namespace ll::cli {

Result<std::string> find_leader_endpoint(const std::string& endpoints) {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply,
                      ask_daemon(endpoints, proto::MessageType::kGetDevices, proto::MessageType::kDevices));
  LL_ASSIGN_OR_RETURN(proto::DevicesBody devices, proto::DevicesBody::from_json(reply.body));
  if (devices.leader.empty()) return make_error("the cluster has no leader yet (no quorum?); try again shortly");
  for (const auto& d : devices.devices) {
    if (d.profile.name == devices.leader) return d.profile.endpoint;
  }
  return make_error("the leader " + devices.leader + " is not among the devices " + devices.self + " knows");
}

Result<proto::Json> get_plan(const std::string& endpoints) {
  LL_ASSIGN_OR_RETURN(proto::Envelope reply,
                      ask_daemon(endpoints, proto::MessageType::kGetPlan, proto::MessageType::kPlanInfo));
  return reply.body;
}

namespace {

struct LoadFlags {
  std::string package;
  std::string objective = "latency";
  uint64_t context = 0;
  std::string wire = "fp32";
  int timeout_s = 600;
  std::string policy = "optimal";
};

std::string bar(uint64_t done, uint64_t total) {
  const int width = 24;
  const int filled = total ? static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total)) : width;
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

int run_load(const LoadFlags& flags, const GlobalOptions& global) {
  std::error_code ec;
  const std::string package = std::filesystem::absolute(flags.package, ec).string();
  if (!std::filesystem::exists(package + "/manifest.json")) {
    std::fprintf(stderr, "llctl load: %s is not a model package (no manifest.json)\n", flags.package.c_str());
    return 2;
  }
  auto leader = find_leader_endpoint(global.endpoint);
  if (!leader) {
    std::fprintf(stderr, "llctl load: %s\n", leader.error().c_str());
    return 1;
  }
  proto::Json body = {{"package", package},
                      {"objective", flags.objective},
                      {"context", flags.context},
                      {"wire", flags.wire == "fp16" ? "float16" : "float32"}};
  if (flags.policy != "optimal") body["policy"] = flags.policy;
  auto started = ask_daemon(*leader, proto::MessageType::kLoad, proto::MessageType::kPlanInfo, body, 60000);
  if (!started) {
    std::fprintf(stderr, "llctl load: %s\n", started.error().c_str());
    return 1;
  }
  const uint64_t version = started->body.value("version", uint64_t{0});
  std::printf(
      "plan %llu: %s over %zu stage(s), predicted %.2f ms/token (%s)\n", static_cast<unsigned long long>(version),
      started->body.value("model", "?").c_str(), started->body["stages"].size(),
      started->body.value("predicted_s_per_token", 0.0) * 1000,
      flags.policy == "optimal" ? flags.objective.c_str() : (flags.objective + ", " + flags.policy + " split").c_str());
  const bool tty = ::isatty(STDOUT_FILENO);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(flags.timeout_s);
  int drawn = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto plan = get_plan(*leader);
    if (!plan) {
      std::fprintf(stderr, "llctl load: %s\n", plan.error().c_str());
      return 1;
    }
    if (plan->value("version", uint64_t{0}) != version) {
      std::fprintf(stderr, "llctl load: plan %llu was replaced while loading\n",
                   static_cast<unsigned long long>(version));
      return 1;
    }
    bool all_ready = true;
    std::string failed;
    if (tty && drawn) std::printf("\033[%dA", drawn);
    drawn = 0;
    for (const auto& d : (*plan)["devices"]) {
      const std::string state = d.value("state", "?");
      all_ready = all_ready && state == "ready";
      if (state == "failed") failed = d.value("device", "?") + ": " + d.value("error", "");
      const uint64_t done = d.value("bytes_done", uint64_t{0}), total = d.value("bytes_total", uint64_t{0});
      if (tty || all_ready || !failed.empty()) {
        std::printf("%s%-16s %s %10s / %-10s %9s/s  %-8s (%s cached)%s\n", tty ? "\r" : "",
                    d.value("device", "?").c_str(), bar(done, total).c_str(), format_bytes(done).c_str(),
                    format_bytes(total).c_str(),
                    format_bytes(static_cast<uint64_t>(d.value("rate_bytes_per_s", 0.0))).c_str(), state.c_str(),
                    format_bytes(d.value("bytes_from_cache", uint64_t{0})).c_str(), tty ? "\033[K" : "");
        ++drawn;
      }
    }
    std::fflush(stdout);
    if (!failed.empty()) {
      std::fprintf(stderr, "llctl load: %s\n", failed.c_str());
      return 1;
    }
    if (all_ready) {
      std::printf("ready: every stage runs plan %llu\n", static_cast<unsigned long long>(version));
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::fprintf(stderr, "llctl load: not ready within %d s\n", flags.timeout_s);
  return 1;
}

}  // namespace

void add_load_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<LoadFlags>();
  auto* sub = app.add_subcommand("load", "plan a model package over the cluster and deploy it");
  sub->add_option("package", flags->package, "model package folder (on the leader's disk)")->required();
  sub->add_option("--objective", flags->objective, "latency (one stream) or throughput (many)")
      ->check(CLI::IsMember({"latency", "throughput"}));
  sub->add_option("--context", flags->context, "tokens of KV cache to reserve per stage (0: the model's)");
  sub->add_option("--wire", flags->wire, "hidden states on the wire: fp32 or fp16")
      ->check(CLI::IsMember({"fp32", "fp16"}));
  sub->add_option("--policy", flags->policy,
                  "optimal (the solver, default), or a peer rule to compare with: equal, memory or flops split")
      ->check(CLI::IsMember({"optimal", "equal", "memory", "flops"}));
  sub->add_option("--timeout", flags->timeout_s, "seconds to wait for every stage")->check(CLI::Range(1, 86400));
  sub->callback([flags, &global] { global.exit_code = run_load(*flags, global); });
}

}  // namespace ll::cli
