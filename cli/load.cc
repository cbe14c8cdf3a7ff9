// llctl load PKG: asks the leader to plan and deploy a model package, then draws each device's progress (bytes,
// rate) until every stage reports ready.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "client/control_client.h"
#include "common/units.h"

namespace ll::cli {

namespace {

struct LoadFlags {
  std::string package;
  std::string objective = "latency";
  uint64_t context = 0;
  uint64_t max_sessions = 0;
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
  auto leader_endpoint = client::ControlClient::from_list(global.endpoint, "llctl").leader_endpoint();
  if (!leader_endpoint) {
    std::fprintf(stderr, "llctl load: %s\n", leader_endpoint.error().message.c_str());
    return 1;
  }
  const client::ControlClient leader({*leader_endpoint}, "llctl");
  client::LoadRequest request;
  request.package = package;
  request.objective = flags.objective;
  request.context = flags.context;
  request.max_sessions = flags.max_sessions;
  request.wire = flags.wire == "fp16" ? "float16" : "float32";
  request.policy = flags.policy;
  auto started = leader.load(request);
  if (!started) {
    std::fprintf(stderr, "llctl load: %s\n", started.error().message.c_str());
    return 1;
  }
  const uint64_t version = started->version;
  std::printf(
      "plan %llu: %s over %zu stage(s), predicted %.2f ms/token (%s)\n", static_cast<unsigned long long>(version),
      started->model.empty() ? "?" : started->model.c_str(), started->stages.size(),
      started->predicted_s_per_token.value_or(0) * 1000,
      flags.policy == "optimal" ? flags.objective.c_str() : (flags.objective + ", " + flags.policy + " split").c_str());
  const bool tty = ::isatty(STDOUT_FILENO);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(flags.timeout_s);
  int drawn = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto plan = leader.get_plan();
    if (!plan) {
      std::fprintf(stderr, "llctl load: %s\n", plan.error().message.c_str());
      return 1;
    }
    if (plan->version != version) {
      std::fprintf(stderr, "llctl load: plan %llu was replaced while loading\n",
                   static_cast<unsigned long long>(version));
      return 1;
    }
    bool all_ready = true;
    std::string failed;
    if (tty && drawn) std::printf("\033[%dA", drawn);
    drawn = 0;
    for (const auto& d : plan->devices) {
      all_ready = all_ready && d.state == "ready";
      if (d.state == "failed") failed = d.device + ": " + d.error;
      if (tty || all_ready || !failed.empty()) {
        std::printf("%s%-16s %s %10s / %-10s %9s/s  %-8s (%s cached)%s\n", tty ? "\r" : "", d.device.c_str(),
                    bar(d.bytes_done, d.bytes_total).c_str(), format_bytes(d.bytes_done).c_str(),
                    format_bytes(d.bytes_total).c_str(),
                    format_bytes(static_cast<uint64_t>(d.rate_bytes_per_s)).c_str(), d.state.c_str(),
                    format_bytes(d.bytes_from_cache).c_str(), tty ? "\033[K" : "");
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
  sub->add_option("--max-sessions", flags->max_sessions,
                  "generations in flight at once: every stage reserves KV cache for each, more are answered busy "
                  "(0: the leader's --max-sessions)")
      ->check(CLI::Range(0, 256));
  sub->add_option("--wire", flags->wire, "hidden states on the wire: fp32 or fp16")
      ->check(CLI::IsMember({"fp32", "fp16"}));
  sub->add_option("--policy", flags->policy,
                  "optimal (the solver, default), or a peer rule to compare with: equal, memory or flops split")
      ->check(CLI::IsMember({"optimal", "equal", "memory", "flops"}));
  sub->add_option("--timeout", flags->timeout_s, "seconds to wait for every stage")->check(CLI::Range(1, 86400));
  sub->callback([flags, &global] { global.exit_code = run_load(*flags, global); });
}

}  // namespace ll::cli
