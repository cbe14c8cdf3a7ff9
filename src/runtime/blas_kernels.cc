#include "runtime/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>

namespace ll {

std::string openblas_core() {
  using CoreName = char* (*)();
  auto name = reinterpret_cast<CoreName>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!name) return "";
  const char* core = name();
  return core ? core : "";
}

std::string better_openblas_core() {
  if (std::getenv("OPENBLAS_CORETYPE")) return "";
  const std::string core = openblas_core();
  // The generic x86-64 fallbacks; anything else is a core OpenBLAS recognised.
  if (core != "Prescott" && core != "Core2" && core != "Nehalem" && core != "Sandybridge") return "";
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();  // libgcc's checks include the OS's register support (XGETBV), not only CPUID
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && core != "Sandybridge") return "Haswell";
#endif
  return "";
}

void use_native_blas_kernels(char** argv) {
  const std::string core = better_openblas_core();
  if (core.empty()) return;
  ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  ::execv("/proc/self/exe", argv);
  // Still here: the exec failed (no /proc?): run on with OpenBLAS's own kernels, which compute the same results.
}

}  // namespace ll
