// Parsing and printing of byte sizes ("2GiB", "512MiB", "1000B"). Stateless.
#pragma once

#include <cstdint>
#include <string>

#include "lingualinked/result.h"

namespace ll {

// Accepts an integer or decimal followed by B, KiB, MiB, GiB, TiB (also KB/MB/GB as powers of 1000).
[[nodiscard]] Result<uint64_t> parse_byte_size(const std::string& text);

// "1.5 GiB", "312 KiB", "17 B".
[[nodiscard]] std::string format_bytes(uint64_t bytes);

}  // namespace ll
