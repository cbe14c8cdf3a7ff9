#include "cluster/device_profile.h"

#include <fstream>
#include <sstream>

namespace ll::cluster {

Result<SystemMemory> read_system_memory(const std::string& meminfo_path) {
  std::ifstream in(meminfo_path);
  if (!in) return make_error("cannot read " + meminfo_path);
  SystemMemory m;
  std::string line;
  bool have_total = false, have_available = false;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string key, unit;
    uint64_t value = 0;
    if (!(ss >> key >> value)) continue;
    ss >> unit;
    const uint64_t bytes = unit == "kB" ? value * 1024 : value;
    if (key == "MemTotal:") {
      m.total = bytes;
      have_total = true;
    } else if (key == "MemAvailable:") {
      m.available = bytes;
      have_available = true;
    }
  }
  if (!have_total || !have_available) return make_error(meminfo_path + " lacks MemTotal or MemAvailable");
  return m;
}

uint64_t default_memory_budget(const SystemMemory& memory) {
  const uint64_t budget = memory.available / 10 * 7;
  return budget < (uint64_t{64} << 20) ? (uint64_t{64} << 20) : budget;
}

}  // namespace ll::cluster
