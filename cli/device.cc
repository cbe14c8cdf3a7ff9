// llctl device NAME --emulate-speed F: a test and benchmark knob — make one daemon behave as a device F times as
// fast (it waits in proportion to the compute it really did). The request goes to that device's own endpoint.
#include <cstdio>

#include "cli/cluster_ops.h"
#include "cli/commands.h"

namespace ll::cli {
namespace {

struct DeviceFlags {
  std::string name;
  double speed = 0;
};

int run_device(const DeviceFlags& flags, const GlobalOptions& global) {
  auto reply = ask_daemon(global.endpoint, proto::MessageType::kGetDevices, proto::MessageType::kDevices);
  if (!reply) {
    std::fprintf(stderr, "llctl device: %s\n", reply.error().c_str());
    return 1;
  }
  auto devices = proto::DevicesBody::from_json(reply->body);
  if (!devices) {
    std::fprintf(stderr, "llctl device: malformed reply: %s\n", devices.error().c_str());
    return 1;
  }
  std::string endpoint;
  for (const auto& d : devices->devices) {
    if (d.profile.name == flags.name) endpoint = d.profile.endpoint;
  }
  if (endpoint.empty()) {
    std::fprintf(stderr, "llctl device: no device named '%s' in the cluster\n", flags.name.c_str());
    return 1;
  }
  auto set = ask_daemon(endpoint, proto::MessageType::kSetSpeed, proto::MessageType::kSpeedSet,
                        proto::Json{{"speed", flags.speed}});
  if (!set) {
    std::fprintf(stderr, "llctl device: %s\n", set.error().c_str());
    return 1;
  }
  std::printf("%s now runs at %.2fx of its real speed\n", flags.name.c_str(), set->body.value("speed", 0.0));
  return 0;
}

}  // namespace

void add_device_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<DeviceFlags>();
  auto* sub = app.add_subcommand("device", "adjust one device (test knobs)");
  sub->add_option("name", flags->name, "device name")->required();
  sub->add_option("--emulate-speed", flags->speed, "behave as a device this many times as fast, in (0, 1]")
      ->required()
      ->check(CLI::Range(1e-6, 1.0));
  sub->callback([flags, &global] { global.exit_code = run_device(*flags, global); });
}

}  // namespace ll::cli
