// Opening the parts of a model package that are not shards: the tokenizer, verified against the manifest's sha256.
// Stateless; thread-safe.
#pragma once

#include <string>

#include "model/manifest.h"
#include "model/tokenizer.h"

namespace ll {

[[nodiscard]] Result<Tokenizer> load_package_tokenizer(const Manifest& manifest, const std::string& package_dir);

// The tokenizer from an already verified file (e.g. in the shard store), in the manifest's format.
[[nodiscard]] Result<Tokenizer> load_tokenizer_file(const Manifest& manifest, const std::string& path);

}  // namespace ll
