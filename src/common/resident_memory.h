// What a long-lived daemon does so that its resident memory is what it holds: glibc's allocator told to return
// large blocks to the kernel, and a pass that gives back what start-up and loading touched once (free heap pages,
// clean pages of shared libraries). Also reads a process's memory figures from /proc. Process-wide; safe from any
// thread (the release pass may run beside other threads: it only drops pages the kernel can read back unchanged).
#pragma once

#include <cstdint>
#include <string>

#include "lingualinked/result.h"

namespace ll {

// Call once, early in main(): large allocations (weights, KV caches, file buffers) are mmapped and unmapped when
// freed instead of staying in a malloc arena, and the daemon's many threads share two arenas. Without it glibc raises
// its mmap threshold after the first large free (the start-up compute profile's 16 MiB matrix), and every later
// tensor below that size stays in an arena that never shrinks.
void configure_allocator_for_daemon();

struct ReleasedMemory {
  uint64_t library_bytes = 0;  // clean shared-library pages dropped from this process's page tables
};

// Returns free malloc memory to the kernel (malloc_trim) and drops this process's mappings of clean pages of shared
// libraries and of its executable: code and read-only data touched by start-up (Debian's libtorch loads ~290
// libraries: OpenCV, FFmpeg, Qt, ...) that most never run again. A page that is needed again is read back from the
// page cache on its next use; pages a library wrote (relocations) are never touched. Call after start-up and after a
// load, not on a hot path (it walks the loaded objects and reads /proc/self/pagemap).
[[nodiscard]] Result<ReleasedMemory> release_idle_memory();

struct ProcessMemory {
  uint64_t peak_rss_bytes = 0;  // VmHWM
  uint64_t rss_bytes = 0;       // VmRSS
  uint64_t anon_bytes = 0;      // RssAnon
  uint64_t file_bytes = 0;      // RssFile
};

// The figures of /proc/<pid>/status ("self" for this process).
[[nodiscard]] Result<ProcessMemory> read_process_memory(const std::string& pid = "self");

}  // namespace ll
