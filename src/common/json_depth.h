// The bracket nesting depth of a JSON text, measured by a byte scan (strings skipped) before any parser sees it, so
// that deeply nested input from an untrusted source is refused instead of overflowing a recursive parser's stack.
// Stateless; thread-safe.
#pragma once

#include <string_view>

namespace ll {

[[nodiscard]] int json_nesting_depth(std::string_view text);

}  // namespace ll
