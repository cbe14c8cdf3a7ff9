// Drafters by name: what `--speculate` names becomes a Drafter (engine/drafter.h). "off" is none, "ngram" the n-gram
// drafter, and "draft:PKG" a draft model package opened in this process. Thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "engine/drafter.h"
#include "runtime/torch_runtime.h"

namespace ll {

// The drafter `mode` names (null for "off"), or why it cannot be had: a bad mode, or a draft package that does not
// open.
[[nodiscard]] Result<std::unique_ptr<Drafter>> open_drafter(const std::string& mode, const RuntimeOptions& options);

}  // namespace ll
