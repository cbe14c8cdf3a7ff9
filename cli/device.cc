// llctl device NAME --emulate-speed F: a test and benchmark knob — make one daemon behave as a device F times as
// fast (it waits in proportion to the compute it really did). The request goes to that device's own endpoint.
// llctl device NAME --remove: an operator's call (role admin) for a device gone for good — every live member stops
// counting it towards the quorum, so a cluster that lost half its devices for good can elect a leader again. Each
// member refuses if it still hears the device (docs/cluster.md, "Removing a device").
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "client/control_client.h"

namespace ll::cli {
namespace {

struct DeviceFlags {
  std::string name;
  double speed = 0;
  bool remove = false;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "llctl device: %s\n", message.c_str());
  return 1;
}

int set_speed(const DeviceFlags& flags, const proto::DevicesBody& devices) {
  std::string endpoint;
  for (const auto& d : devices.devices) {
    if (d.profile.name == flags.name) endpoint = d.profile.endpoint;
  }
  if (endpoint.empty()) return fail("no device named '" + flags.name + "' in the cluster");
  auto set = client::ControlClient({endpoint}, "llctl").set_speed(flags.speed);
  if (!set) return fail(set.error().message);
  std::printf("%s now runs at %.2fx of its real speed\n", flags.name.c_str(), *set);
  return 0;
}

int remove(const DeviceFlags& flags, const proto::DevicesBody& devices) {
  bool listed = false;
  std::vector<std::pair<std::string, std::string>> members;  // name, endpoint: every member but the removed one
  for (const auto& d : devices.devices) {
    if (d.profile.name == flags.name) {
      listed = true;
      if (d.state == "alive" || d.state == "suspect" || d.state == "self") {
        return fail(flags.name + " is " + (d.state == "self" ? std::string("the device answering") : d.state) +
                    ": only a dead device can be removed; stop it first");
      }
    } else if (d.state != "dead") {
      members.emplace_back(d.profile.name, d.profile.endpoint);
    }
  }
  if (!listed) return fail("no device named '" + flags.name + "' in the cluster");
  int refused = 0;
  for (const auto& [name, endpoint] : members) {
    auto removed = client::ControlClient({endpoint}, "llctl").remove_device(flags.name);
    if (!removed) {
      ++refused;
      std::fprintf(stderr, "llctl device: %s refused: %s\n", name.c_str(), removed.error().message.c_str());
      continue;
    }
    std::printf("%s: removed %s (%s members, quorum %s)\n", name.c_str(), flags.name.c_str(),
                removed->value("members_known", proto::Json()).dump().c_str(),
                removed->value("quorum", proto::Json()).dump().c_str());
  }
  return refused == 0 ? 0 : 1;
}

int run_device(const DeviceFlags& flags, const GlobalOptions& global) {
  if (flags.remove == (flags.speed > 0)) return fail("give exactly one of --emulate-speed and --remove");
  auto devices = client::ControlClient::from_list(global.endpoint, "llctl").get_devices();
  if (!devices) return fail(devices.error().message);
  return flags.remove ? remove(flags, *devices) : set_speed(flags, *devices);
}

}  // namespace

void add_device_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<DeviceFlags>();
  auto* sub = app.add_subcommand("device", "adjust one device: emulate a slower one (test knob), or remove a dead one");
  sub->add_option("name", flags->name, "device name")->required();
  sub->add_option("--emulate-speed", flags->speed, "behave as a device this many times as fast, in (0, 1]")
      ->check(CLI::Range(1e-6, 1.0));
  sub->add_flag("--remove", flags->remove,
                "stop counting a dead device towards the quorum on every live member (role admin); refused while "
                "it is alive");
  sub->callback([flags, &global] { global.exit_code = run_device(*flags, global); });
}

}  // namespace ll::cli
