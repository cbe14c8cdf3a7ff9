// Drafters by name: what `--speculate` names becomes a Drafter (engine/drafter.h). "off" is none, "ngram" the n-gram
// drafter, and "draft:PKG" a draft model package (scripts/export-model --draft-layers) opened in this process and run
// by a ModelDrafter (engine/model_drafter.h). Thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "engine/drafter.h"
#include "engine/model_drafter.h"
#include "model/manifest.h"
#include "runtime/torch_runtime.h"

namespace ll {

// Sessions whose draft-model caches a drafter keeps by default.
inline constexpr int kDefaultDraftSessions = ModelDrafter::kDefaultMaxSessions;

// The drafter `mode` names (null for "off"), or why it cannot be had: a bad mode, or a draft package that does not
// open. With `target` (the manifest of the model the drafts are for), a draft package whose tokenizer or vocabulary
// differs from the target's is refused: its token ids would mean other text. Without it (a daemon that has not
// loaded its model yet) the caller checks with check_draft_tokenizer() when it knows the target. A draft model keeps
// the KV caches of up to `max_sessions` sessions (the least recently drafted one is closed for a new one, which then
// catches up its whole context once).
[[nodiscard]] Result<std::unique_ptr<Drafter>> open_drafter(const std::string& mode, const RuntimeOptions& options,
                                                            const Manifest* target = nullptr,
                                                            int max_sessions = kDefaultDraftSessions);

// Ok when a draft model with manifest `draft` speaks the tokens of `target`: the same tokenizer file (sha256), the
// same vocabulary size and special tokens.
[[nodiscard]] Status check_draft_tokenizer(const Manifest& draft, const Manifest& target);

}  // namespace ll
