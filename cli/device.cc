// llctl device NAME --emulate-speed F: a test and benchmark knob — make one daemon behave as a device F times as
// fast (it waits in proportion to the compute it really did). The request goes to that device's own endpoint.
#include <cstdio>

#include "cli/commands.h"
#include "client/control_client.h"

namespace ll::cli {
namespace {

struct DeviceFlags {
  std::string name;
  double speed = 0;
};

int run_device(const DeviceFlags& flags, const GlobalOptions& global) {
  auto devices = client::ControlClient::from_list(global.endpoint, "llctl").get_devices();
  if (!devices) {
    std::fprintf(stderr, "llctl device: %s\n", devices.error().message.c_str());
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
  auto set = client::ControlClient({endpoint}, "llctl").set_speed(flags.speed);
  if (!set) {
    std::fprintf(stderr, "llctl device: %s\n", set.error().message.c_str());
    return 1;
  }
  std::printf("%s now runs at %.2fx of its real speed\n", flags.name.c_str(), *set);
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
