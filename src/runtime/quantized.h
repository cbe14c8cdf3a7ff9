// Int8 packages in the runtime (docs/model-package.md, "Int8 packages"): the torch quantized engine int8 shards run
// on, chosen once per process, and the checks every loaded shard passes before it runs — its weight type is the
// manifest's, its int8 scales are finite and positive. Torch-free header (the Module is only forward-declared).
// Thread-safety: quantized_engine() is safe from any thread (the choice is made once, under a static's guard).
#pragma once

#include <string>

#include "lingualinked/result.h"
#include "model/manifest.h"

namespace torch::jit::mobile {
class Module;
}

namespace ll {

// The engine int8 shards run on: "qnnpack" on ARM (the engine torch tunes for phones), "onednn" on x86 (2-5x faster
// than qnnpack here, docs/performance.md). LL_QUANTIZED_ENGINE=qnnpack|onednn overrides it for measurements. An error
// when this libtorch lacks the engine. The first call selects it in libtorch, and weights packed for it drop their
// unpacked copy (int8 shards hold one byte per weight).
[[nodiscard]] Result<std::string> quantized_engine();

// An int8 package whose quantized_engines do not include this runtime's engine is refused; float32 packages pass.
[[nodiscard]] Status check_package_engine(const Manifest& manifest);

// A loaded shard holds the weight type its manifest names (weight_type(); shards without it are float32) and, when
// int8, valid scales (scales_ok()). `path` names the file in errors.
[[nodiscard]] Status check_shard_weights(torch::jit::mobile::Module& module, const Manifest& manifest,
                                         const std::string& path);

}  // namespace ll
