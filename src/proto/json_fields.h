// Validated access to JSON control frames: a size- and depth-checked parse, and typed field getters that return
// errors instead of throwing. Used by every decoder in proto. Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/json_depth.h"
#include "lingualinked/result.h"

namespace ll::proto {

using Json = nlohmann::json;

// Checks size and nesting depth with a byte scan, then parses; the result is always a JSON object.
[[nodiscard]] Result<Json> parse_control_json(std::string_view text, size_t max_bytes, int max_depth);

// Maximum bracket nesting depth of a JSON text (strings are skipped), computed without recursion.
using ll::json_nesting_depth;  // src/common/json_depth.h

[[nodiscard]] bool valid_name(std::string_view name);          // [A-Za-z0-9._-]{1,kMaxNameBytes}
[[nodiscard]] bool valid_endpoint(std::string_view endpoint);  // tcp://, ipc:// or inproc://, safe characters

[[nodiscard]] Result<std::string> get_string(const Json& obj, const char* key, size_t max_len);
[[nodiscard]] Result<std::string> get_name(const Json& obj, const char* key);  // valid_name
[[nodiscard]] Result<std::string> get_name_or_empty(const Json& obj, const char* key);
[[nodiscard]] Result<std::string> get_endpoint(const Json& obj, const char* key);  // valid_endpoint
[[nodiscard]] Result<uint64_t> get_u64(const Json& obj, const char* key);
[[nodiscard]] Result<int64_t> get_i64(const Json& obj, const char* key);
[[nodiscard]] Result<double> get_number(const Json& obj, const char* key);  // finite
[[nodiscard]] Result<bool> get_bool(const Json& obj, const char* key);
// The array/object under key (an error if missing or of another kind), with at most max_items entries.
[[nodiscard]] Result<const Json*> get_array(const Json& obj, const char* key, size_t max_items);
[[nodiscard]] Result<const Json*> get_object(const Json& obj, const char* key, size_t max_items);

}  // namespace ll::proto
