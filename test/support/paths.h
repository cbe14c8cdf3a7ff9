// Where tests find the source tree, the build tree and the exported test models (scripts/make-test-models, run by
// the CTest fixture "models"). CTest sets LL_SOURCE_DIR and LL_BUILD_DIR.
#pragma once

#include <cstdlib>
#include <string>

namespace ll::test {

inline std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}
inline std::string source_dir() { return env_or("LL_SOURCE_DIR", "."); }
inline std::string build_dir() { return env_or("LL_BUILD_DIR", "build"); }
inline std::string model_dir(const std::string& name) { return build_dir() + "/models/" + name; }
inline std::string shared_models_dir() { return env_or("LL_MODELS_DIR", (source_dir() + "/../shared/models").c_str()); }

}  // namespace ll::test
