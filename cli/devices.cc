// llctl devices / llctl status: ask the local (or --endpoint) daemon for its view of the cluster. An unreachable
// daemon is one line naming the endpoint, within a few seconds, exit 1; a daemon's error reply is exit 1 too.
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "client/control_client.h"
#include "common/units.h"
#include "proto/messages.h"

namespace ll::cli {
namespace {

std::string gflops(double v) {
  if (v <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string ago(int64_t ms) {
  if (ms < 0) return "never";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs ago", static_cast<double>(ms) / 1000.0);
  return buf;
}

void print_devices(const proto::DevicesBody& d) {
  std::printf("leader: %s (term %llu), seen from %s\n", d.leader.empty() ? "(none)" : d.leader.c_str(),
              static_cast<unsigned long long>(d.term), d.self.c_str());
  std::printf("%-16s %-28s %-9s %5s %-8s %10s %21s %10s %8s %8s %-8s %s\n", "NAME", "ENDPOINT", "ROLE", "TERM", "STATE",
              "BUDGET", "RSS / PEAK", "FREE", "GF/s dec", "GF/s pre", "INT8", "HEARTBEAT");
  for (const auto& r : d.devices) {
    const std::string rss =
        r.profile.rss ? format_bytes(r.profile.rss) + " / " + format_bytes(r.profile.peak_rss) : "-";
    std::printf("%-16s %-28s %-9s %5llu %-8s %10s %21s %10s %8s %8s %-8s %s\n", r.profile.name.c_str(),
                r.profile.endpoint.c_str(), r.role.c_str(), static_cast<unsigned long long>(r.term), r.state.c_str(),
                r.profile.memory_budget ? format_bytes(r.profile.memory_budget).c_str() : "-", rss.c_str(),
                r.profile.memory_free ? format_bytes(r.profile.memory_free).c_str() : "-",
                gflops(r.profile.gflops_decode).c_str(), gflops(r.profile.gflops_prefill).c_str(),
                r.profile.quantized_engine.empty() ? "-" : r.profile.quantized_engine.c_str(),
                r.state == "self" ? "-" : ago(r.last_heartbeat_ms).c_str());
  }
  if (d.links.empty()) return;
  // The link matrix: row = the measuring device, column = the peer; "RTT ms / MB/s".
  std::vector<std::string> names;
  for (const auto& r : d.devices) names.push_back(r.profile.name);
  std::printf("\nlinks (row -> column: RTT ms / MB/s):\n%-16s", "");
  for (const auto& n : names) std::printf(" %16s", n.c_str());
  std::printf("\n");
  for (const auto& from : names) {
    std::printf("%-16s", from.c_str());
    for (const auto& to : names) {
      std::string cell = from == to ? "." : "-";
      for (const auto& l : d.links) {
        if (l.from == from && l.to == to) {
          char buf[48];
          std::snprintf(buf, sizeof buf, "%.2f/%.0f", l.stat.rtt_ms, l.stat.bandwidth_mbps);
          cell = buf;
        }
      }
      std::printf(" %16s", cell.c_str());
    }
    std::printf("\n");
  }
}

void print_status(const proto::StatusBody& s) {
  std::printf("%s: %s in term %llu of cluster %s; leader %s\n", s.self.c_str(), s.role.c_str(),
              static_cast<unsigned long long>(s.term), s.cluster.c_str(),
              s.leader.empty() ? "(none)" : s.leader.c_str());
  std::printf("members: %llu alive of %llu known, quorum %llu%s; up %.0f s\n",
              static_cast<unsigned long long>(s.members_alive), static_cast<unsigned long long>(s.members_known),
              static_cast<unsigned long long>(s.quorum), s.members_alive < s.quorum ? " (NO QUORUM)" : "", s.uptime_s);
}

}  // namespace

void add_cluster_commands(CLI::App& app, GlobalOptions& global) {
  auto* devices = app.add_subcommand("devices", "devices of the cluster, their profiles and the links between them");
  auto devices_as_json = std::make_shared<bool>(false);
  auto refresh = std::make_shared<bool>(false);
  devices->add_flag("--json", *devices_as_json, "print JSON");
  devices->add_flag("--refresh", *refresh,
                    "ask the daemon to measure its links and compute speed again first (takes a few seconds)");
  devices->callback([&global, devices_as_json, refresh] {
    const auto control = client::ControlClient::from_list(global.endpoint, "llctl");
    if (*refresh) {
      auto started = control.refresh_profile();
      if (!started.ok()) {
        std::fprintf(stderr, "llctl devices: %s\n", started.error().message.c_str());
        global.exit_code = 1;
        return;
      }
      // Probes take milliseconds; the compute profile takes about two of the daemon's profile_seconds.
      std::this_thread::sleep_for(started->compute ? std::chrono::milliseconds(2500) : std::chrono::milliseconds(500));
    }
    auto body = control.get_devices();
    if (!body.ok()) {
      std::fprintf(stderr, "llctl devices: %s\n", body.error().message.c_str());
      global.exit_code = 1;
      return;
    }
    // What each device really takes per pipeline step, as the leader observes it (when a model is loaded).
    proto::Json observed = proto::Json::object();
    if (!body->leader.empty()) {
      auto leader = control.leader_endpoint();
      auto plan = leader ? client::ControlClient({*leader}, "llctl").get_plan()
                         : client::ClientResult<client::PlanInfo>(leader.take_error());
      if (plan) {
        for (size_t i = 0; i < plan->stages.size() && i < plan->observed_stage_ms.size(); ++i) {
          if (plan->observed_stage_ms[i] > 0) observed[plan->stages[i].device] = plan->observed_stage_ms[i];
        }
      }
    }
    if (*devices_as_json) {
      proto::Json out = body->to_json();
      out["observed_ms_per_step"] = observed;
      std::cout << out.dump(2) << "\n";
    } else {
      print_devices(*body);
      if (!observed.empty()) {
        std::printf("\nobserved ms per pipeline step (this plan):");
        for (const auto& [name, ms] : observed.items()) std::printf("  %s %.2f", name.c_str(), ms.get<double>());
        std::printf("\n");
      }
    }
  });

  auto* status = app.add_subcommand("status", "the cluster in a few lines");
  auto status_as_json = std::make_shared<bool>(false);
  status->add_flag("--json", *status_as_json, "print JSON");
  status->callback([&global, status_as_json] {
    auto body = client::ControlClient::from_list(global.endpoint, "llctl").get_status();
    if (!body.ok()) {
      std::fprintf(stderr, "llctl status: %s\n", body.error().message.c_str());
      global.exit_code = 1;
      return;
    }
    if (*status_as_json) {
      std::cout << body->to_json().dump(2) << "\n";
    } else {
      print_status(*body);
    }
  });
}

}  // namespace ll::cli
