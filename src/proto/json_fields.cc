#include "proto/json_fields.h"

#include <cmath>

#include "proto/limits.h"

namespace ll::proto {

Result<Json> parse_control_json(std::string_view text, size_t max_bytes, int max_depth) {
  if (text.size() > max_bytes) {
    return make_error("control frame of " + std::to_string(text.size()) + " bytes exceeds " +
                      std::to_string(max_bytes));
  }
  if (json_nesting_depth(text) > max_depth) return make_error("control frame nests deeper than the limit");
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error("control frame is not valid JSON");
  if (!j.is_object()) return make_error("control frame is not a JSON object");
  return j;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_endpoint(std::string_view ep) {
  if (ep.size() > kMaxEndpointBytes) return false;
  std::string_view rest;
  for (std::string_view scheme : {"tcp://", "ipc://", "inproc://"}) {
    if (ep.substr(0, scheme.size()) == scheme) rest = ep.substr(scheme.size());
  }
  if (rest.empty()) return false;
  for (char c : rest) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-' || c == ':' || c == '/' || c == '[' || c == ']' || c == '*' || c == '%';
    if (!ok) return false;
  }
  return true;
}

namespace {
Result<const Json*> field(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return make_error(std::string("missing field '") + key + "'");
  return &*it;
}
}  // namespace

Result<std::string> get_string(const Json& obj, const char* key, size_t max_len) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (!v->is_string()) return make_error(std::string("field '") + key + "' is not a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) return make_error(std::string("field '") + key + "' is too long");
  return s;
}

Result<std::string> get_name(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(std::string s, get_string(obj, key, kMaxNameBytes));
  if (!valid_name(s)) return make_error(std::string("field '") + key + "' is not a valid name");
  return s;
}

Result<std::string> get_name_or_empty(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(std::string s, get_string(obj, key, kMaxNameBytes));
  if (!s.empty() && !valid_name(s)) return make_error(std::string("field '") + key + "' is not a valid name");
  return s;
}

Result<std::string> get_endpoint(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(std::string s, get_string(obj, key, kMaxEndpointBytes));
  if (!valid_endpoint(s)) return make_error(std::string("field '") + key + "' is not a valid endpoint");
  return s;
}

Result<uint64_t> get_u64(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (!v->is_number_unsigned()) {
    if (v->is_number_integer() && v->get<int64_t>() >= 0) return static_cast<uint64_t>(v->get<int64_t>());
    return make_error(std::string("field '") + key + "' is not an unsigned integer");
  }
  return v->get<uint64_t>();
}

Result<int64_t> get_i64(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return make_error(std::string("field '") + key + "' is too large");
    return static_cast<int64_t>(u);
  }
  if (!v->is_number_integer()) return make_error(std::string("field '") + key + "' is not an integer");
  return v->get<int64_t>();
}

Result<double> get_number(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (!v->is_number()) return make_error(std::string("field '") + key + "' is not a number");
  double d = v->get<double>();
  if (!std::isfinite(d)) return make_error(std::string("field '") + key + "' is not finite");
  return d;
}

Result<bool> get_bool(const Json& obj, const char* key) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (!v->is_boolean()) return make_error(std::string("field '") + key + "' is not a boolean");
  return v->get<bool>();
}

Result<const Json*> get_array(const Json& obj, const char* key, size_t max_items) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (!v->is_array()) return make_error(std::string("field '") + key + "' is not an array");
  if (v->size() > max_items) return make_error(std::string("field '") + key + "' has too many items");
  return v;
}

Result<const Json*> get_object(const Json& obj, const char* key, size_t max_items) {
  LL_ASSIGN_OR_RETURN(const Json* v, field(obj, key));
  if (!v->is_object()) return make_error(std::string("field '") + key + "' is not an object");
  if (v->size() > max_items) return make_error(std::string("field '") + key + "' has too many items");
  return v;
}

}  // namespace ll::proto
