// The BLAS kernel choice at start-up: a core type the user (or the first run of the process) set is never overridden
// — that is also what keeps the process from running itself again and again.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "runtime/blas_kernels.h"

using namespace ll;

TEST_CASE("ACoreTypeAlreadySetIsNeverOverridden", "[blas]") {
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before ? before : "";
  ::setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  REQUIRE(better_openblas_core().empty());
  if (before) {
    ::setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  } else {
    ::unsetenv("OPENBLAS_CORETYPE");
  }
}

TEST_CASE("OnlyAGenericCoreIsReplaced", "[blas]") {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the environment chose; the case above covers it
  const std::string chosen = openblas_core();
  const std::string better = better_openblas_core();
  if (chosen != "Prescott" && chosen != "Core2" && chosen != "Nehalem" && chosen != "Sandybridge") {
    REQUIRE(better.empty());
  } else {
    REQUIRE((better.empty() || better == "SkylakeX" || better == "Haswell"));
  }
}
