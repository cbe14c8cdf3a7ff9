// SHA-256 of files and byte buffers (libsodium). Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lingualinked/result.h"

namespace ll {

// Lower-case hex digest of a byte buffer.
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

// Lower-case hex digest of a file, streamed in chunks (no whole-file buffer).
[[nodiscard]] Result<std::string> sha256_file_hex(const std::string& path);

}  // namespace ll
