#include "common/resident_memory.h"

#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace ll {
namespace {

constexpr uint64_t kPresent = 1ull << 63;
constexpr uint64_t kFileOrShared = 1ull << 61;  // not an anonymous (e.g. copy-on-write relocated) page

struct Segment {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

// The read-only and code segments of every loaded object (the executable and each shared library), as the dynamic
// loader lists them. Such a segment is never written: relocated data lives in writable segments (made read-only
// only afterwards, PT_GNU_RELRO), which are left out, so no page dropped here can hold anything but the file's bytes
// — even while another thread dlopens.
int collect_read_only_segments(dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<Segment>*>(data);
  const std::string name = info->dlpi_name ? info->dlpi_name : "";
  if (name.find("linux-vdso") != std::string::npos || name.find("linux-gate") != std::string::npos) return 0;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::vector<Segment> relro;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_GNU_RELRO)
      relro.push_back({info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz});
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) || ph.p_filesz == 0) continue;
    // Only whole pages backed by the file (p_filesz), rounded inwards.
    const uintptr_t begin = (info->dlpi_addr + ph.p_vaddr + page - 1) / page * page;
    const uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_filesz) / page * page;
    if (end <= begin) continue;
    bool overlaps = false;
    for (const Segment& r : relro) overlaps = overlaps || (r.begin < end && begin < r.end);
    if (!overlaps) out->push_back({begin, end});
  }
  return 0;
}

// Drops the present, file-backed pages of [begin, end); returns the bytes dropped.
uint64_t drop_clean_pages(int pagemap, uintptr_t begin, uintptr_t end, size_t page) {
  uint64_t dropped = 0;
  std::vector<uint64_t> entries(4096);
  for (uintptr_t chunk = begin; chunk < end;) {
    const size_t pages = std::min<size_t>(entries.size(), (end - chunk) / page);
    const ssize_t got =
        ::pread(pagemap, entries.data(), pages * sizeof(uint64_t), static_cast<off_t>(chunk / page * sizeof(uint64_t)));
    if (got <= 0) break;
    const size_t n = static_cast<size_t>(got) / sizeof(uint64_t);
    size_t i = 0;
    while (i < n) {
      if ((entries[i] & (kPresent | kFileOrShared)) != (kPresent | kFileOrShared)) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < n && (entries[j] & (kPresent | kFileOrShared)) == (kPresent | kFileOrShared)) ++j;
      // DONTNEED on a clean file page of a private mapping only unmaps it: the next access reads the file again.
      if (::madvise(reinterpret_cast<void*>(chunk + i * page), (j - i) * page, MADV_DONTNEED) == 0)
        dropped += (j - i) * page;
      i = j;
    }
    chunk += n * page;
  }
  return dropped;
}

}  // namespace

void configure_allocator_for_daemon() {
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);  // fixed: no dynamic raise after a large free
  ::mallopt(M_TRIM_THRESHOLD, 1 << 20);
  ::mallopt(M_ARENA_MAX, 2);
}

Result<ReleasedMemory> release_idle_memory() {
  ::malloc_trim(0);
  ReleasedMemory out;
#if defined(__SANITIZE_ADDRESS__)
  // The page walk reads the gaps between a library's globals, which AddressSanitizer poisons: sanitizer builds (the
  // tests) keep their pages.
  return out;
#endif
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return make_error(std::string("cannot open /proc/self/pagemap: ") + std::strerror(errno));
  std::vector<Segment> segments;
  ::dl_iterate_phdr(collect_read_only_segments, &segments);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  for (const Segment& s : segments) out.library_bytes += drop_clean_pages(pagemap, s.begin, s.end, page);
  ::close(pagemap);
  return out;
}

Result<ProcessMemory> read_process_memory(const std::string& pid) {
  std::ifstream status("/proc/" + pid + "/status");
  if (!status) return make_error("cannot read /proc/" + pid + "/status");
  ProcessMemory m;
  std::string line;
  while (std::getline(status, line)) {
    unsigned long long kib = 0;
    char key[32] = {0};
    if (std::sscanf(line.c_str(), "%31[^:]: %llu kB", key, &kib) != 2) continue;
    const uint64_t bytes = static_cast<uint64_t>(kib) * 1024;
    if (std::strcmp(key, "VmHWM") == 0) m.peak_rss_bytes = bytes;
    if (std::strcmp(key, "VmRSS") == 0) m.rss_bytes = bytes;
    if (std::strcmp(key, "RssAnon") == 0) m.anon_bytes = bytes;
    if (std::strcmp(key, "RssFile") == 0) m.file_bytes = bytes;
  }
  return m;
}

}  // namespace ll
