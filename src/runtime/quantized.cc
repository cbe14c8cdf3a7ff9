#include "runtime/quantized.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/mobile/module.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace ll {
namespace {

std::string engine_name(at::QEngine engine) {
  switch (engine) {
    case at::QEngine::QNNPACK:
      return "qnnpack";
    case at::QEngine::ONEDNN:
      return "onednn";
    case at::QEngine::FBGEMM:
      return "fbgemm";
    case at::QEngine::X86:
      return "x86";
    default:
      return "none";
  }
}

std::string supported_engines() {
  std::string names;
  for (at::QEngine e : at::globalContext().supportedQEngines()) {
    if (e == at::QEngine::NoQEngine) continue;
    names += (names.empty() ? "" : ", ") + engine_name(e);
  }
  return names.empty() ? "none" : names;
}

// The platform's usual engine first (qnnpack is built for ARM; onednn for x86), then any other this libtorch has:
// Debian's arm64 libtorch, for one, has onednn and no qnnpack. LL_QUANTIZED_ENGINE names one engine, strictly.
Result<std::string> select_engine() {
#if defined(__aarch64__) || defined(__arm__)
  std::vector<std::string> preferred = {"qnnpack", "onednn"};
#else
  std::vector<std::string> preferred = {"onednn", "qnnpack"};
#endif
  const char* env = std::getenv("LL_QUANTIZED_ENGINE");
  if (env && *env) preferred = {env};
  for (const std::string& wanted : preferred) {
    for (at::QEngine e : at::globalContext().supportedQEngines()) {
      if (e != at::QEngine::NoQEngine && engine_name(e) == wanted) {
        at::globalContext().setQEngine(e);
        at::globalContext().setReleaseWeightsWhenPrepacking(true);
        return wanted;
      }
    }
  }
  return make_error("quantized engine '" + preferred.front() + "' is not in this libtorch (it has " +
                    supported_engines() + ")");
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

Result<std::string> quantized_engine() {
  static const Result<std::string> chosen = [] {
    try {
      return select_engine();
    } catch (const std::exception& e) {
      return Result<std::string>(make_error(std::string("cannot select a quantized engine: ") + first_line(e.what())));
    }
  }();
  return chosen;
}

Status check_package_engine(const Manifest& manifest) {
  if (manifest.weight_dtype != "int8") return Status::Ok();
  LL_ASSIGN_OR_RETURN(std::string engine, quantized_engine());
  const auto& names = manifest.quantized_engines;
  if (std::find(names.begin(), names.end(), engine) != names.end()) return Status::Ok();
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n.substr(0, 32);
  return make_error("int8 package runs on quantized engine(s) " + listed + ", this runtime uses " + engine +
                    " (available: " + supported_engines() + ")");
}

Status check_shard_weights(torch::jit::mobile::Module& module, const Manifest& manifest, const std::string& path) {
  try {
    std::string held = "float32";
    if (module.find_method("weight_type")) held = module.run_method("weight_type").toStringRef();
    if (held != manifest.weight_dtype) {
      return make_error(path + ": holds " + held.substr(0, 16) + " weights in a package of " + manifest.weight_dtype +
                        " weights (a package that mixes weight types is refused)");
    }
    if (held == "int8" && (!module.find_method("scales_ok") || !module.run_method("scales_ok").toBool())) {
      return make_error(path + ": an int8 scale is not a finite positive number (corrupt shard)");
    }
  } catch (const std::exception& e) {
    return make_error(path + ": cannot check its weights: " + first_line(e.what()));
  }
  return Status::Ok();
}

}  // namespace ll
