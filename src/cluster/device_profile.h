// Device facts for the profile: memory as the system reports it (/proc/meminfo on Linux) and the default memory
// budget derived from it. Compute speed is measured by the runtime (runtime/compute_profile.h) and merged in by the
// daemon. Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>

#include "lingualinked/result.h"

namespace ll::cluster {

struct SystemMemory {
  uint64_t total = 0;
  uint64_t available = 0;  // MemAvailable: what can be allocated without swapping
};

[[nodiscard]] Result<SystemMemory> read_system_memory(const std::string& meminfo_path = "/proc/meminfo");

// The default budget for shards and their KV cache: 70% of available memory (LinguaLinked's bound), at least 64 MiB.
[[nodiscard]] uint64_t default_memory_budget(const SystemMemory& memory);

}  // namespace ll::cluster
