// Limits on model packages, mirrored in docs/model-package.md. Anything beyond them is rejected as malformed.
#pragma once

#include <cstdint>

namespace ll::limits {

constexpr int kManifestFormatVersion = 1;
constexpr uint64_t kMaxManifestBytes = 4u << 20;  // 4 MiB of JSON
constexpr int kMaxShards = 4096;
constexpr int kMaxDim = 65536;
constexpr int kMaxVocab = 1 << 20;
constexpr int kMaxContext = 1 << 20;
constexpr int kMaxFileNameLength = 255;

}  // namespace ll::limits
