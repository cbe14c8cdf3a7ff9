// The daemon's memory hygiene: large blocks go back to the kernel when freed, released library pages leave the
// process and still run, and /proc's figures are read.
#include <link.h>
#include <unistd.h>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "common/resident_memory.h"
#include "common/sha256.h"

using namespace ll;

namespace {

uint64_t rss_now() {
  auto m = read_process_memory();
  REQUIRE(m.ok());
  return m->rss_bytes;
}

// Reads a byte of every page of the executable's read-only segments: file pages now resident in this process.
int touch_own_text(dl_phdr_info* info, size_t, void* sum) {
  if (info->dlpi_name && info->dlpi_name[0] != '\0') return 0;  // the executable only
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
    const auto* p = reinterpret_cast<const volatile unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    for (size_t off = 0; off < ph.p_filesz; off += 4096) *static_cast<unsigned*>(sum) += p[off];
  }
  return 1;
}

}  // namespace

// AddressSanitizer replaces the allocator (mallopt has no effect on it) and poisons the gaps between a library's
// globals, which the page walk reads: these two contracts are glibc's and the plain build's; the sanitizer build runs
// the others.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("LargeBlocksFreedAfterABigFreeStayInTheArenaUnlessTheAllocatorIsConfigured", "[resident_memory]") {
  configure_allocator_for_daemon();
  // glibc's default raises its mmap threshold when an mmapped block is freed (the compute profile's 16 MiB matrix):
  // the 2 MiB blocks below would then come from an arena, and freeing all but the last would return nothing.
  void* volatile big = std::malloc(16 << 20);  // volatile: the compiler may not drop the pair
  REQUIRE(big != nullptr);
  std::memset(big, 1, 16 << 20);
  std::free(big);
  std::vector<void*> blocks(40);
  for (void*& b : blocks) {
    b = std::malloc(2 << 20);
    REQUIRE(b != nullptr);
    std::memset(b, 1, 2 << 20);
  }
  const uint64_t held = rss_now();
  for (size_t i = 0; i + 1 < blocks.size(); ++i) std::free(blocks[i]);
  const uint64_t after = rss_now();
  std::free(blocks.back());
  INFO("rss holding 80 MiB " << held << ", after freeing 78 MiB of it " << after);
  CHECK(after + (70ull << 20) <= held);
}

TEST_CASE("ReleasedLibraryPagesLeaveTheProcessAndStillRun", "[resident_memory]") {
  const std::string before = sha256_hex("the same bytes");
  std::ostringstream text;  // libstdc++: relocated vtables and code
  text << 42 << " " << 2.5;
  unsigned sum = 0;
  dl_iterate_phdr(touch_own_text, &sum);
  const auto file_before = read_process_memory();
  REQUIRE(file_before.ok());

  auto released = release_idle_memory();
  REQUIRE(released.ok());
  const auto file_after = read_process_memory();
  REQUIRE(file_after.ok());
  INFO("file-backed rss " << file_before->file_bytes << " -> " << file_after->file_bytes << ", released "
                          << released->library_bytes);
  CHECK(released->library_bytes > 0);
  CHECK(file_after->file_bytes < file_before->file_bytes);

  // Code and read-only data are read back on use; relocated data was never touched.
  CHECK(sha256_hex("the same bytes") == before);
  std::ostringstream again;
  again << 42 << " " << 2.5;
  CHECK(again.str() == text.str());
  unsigned sum_again = 0;
  dl_iterate_phdr(touch_own_text, &sum_again);
  CHECK(sum_again == sum);
}

#endif  // !__SANITIZE_ADDRESS__

TEST_CASE("ProcessMemoryOfAMissingProcessIsAnError", "[resident_memory]") {
  auto self = read_process_memory();
  REQUIRE(self.ok());
  CHECK(self->rss_bytes > 0);
  CHECK(self->peak_rss_bytes >= self->rss_bytes);
  CHECK(self->anon_bytes + self->file_bytes <= self->rss_bytes);
  auto missing = read_process_memory("999999999");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == "cannot read /proc/999999999/status");
}
