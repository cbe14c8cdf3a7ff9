// OpenBLAS chooses its kernels for the CPU when it is loaded. Debian's OpenBLAS 0.3.21 does not know newer CPUs (for
// example AMD Zen 4) and falls back to its SSE3 "Prescott" kernels, several times slower for prefill than the AVX2
// or AVX-512 kernels the CPU runs; its only switch is the OPENBLAS_CORETYPE variable, read at load time. The
// binaries therefore look once, at the top of main(), and if OpenBLAS chose a generic core on a CPU that has better
// kernels, set the variable and run themselves again (the same pid, argv and environment otherwise).
// Thread-safety: call from main() before any thread starts.
#pragma once

#include <string>

namespace ll {

// The core OpenBLAS chose ("Prescott", "Haswell", ...), or "" when the BLAS in use is not OpenBLAS.
[[nodiscard]] std::string openblas_core();

// The OPENBLAS_CORETYPE this CPU should have, or "" when OpenBLAS's own choice stands: OpenBLAS is absent, the
// variable is already set (by the user, or by the first run of this process), or OpenBLAS chose a specific core.
[[nodiscard]] std::string better_openblas_core();

// If better_openblas_core() names one, sets OPENBLAS_CORETYPE and execs /proc/self/exe with argv; returns only if
// nothing is to be done or the exec failed (the process then runs on with OpenBLAS's choice).
void use_native_blas_kernels(char** argv);

}  // namespace ll
