// Names of the client's error codes. Thread-safety: stateless.
#include "client/client_error.h"

namespace ll::client {

namespace {
struct Name {
  ErrorCode code;
  const char* name;
};
constexpr Name kNames[] = {
    {ErrorCode::kUnreachable, "unreachable"},
    {ErrorCode::kTimeout, "timeout"},
    {ErrorCode::kRefused, "refused"},
    {ErrorCode::kMalformed, "malformed"},
    {ErrorCode::kLost, "lost"},
    {ErrorCode::kDaemonError, "daemon_error"},
    {ErrorCode::kNoModel, "no_model"},
    {ErrorCode::kBadRequest, "bad_request"},
    {ErrorCode::kNotReady, "not_ready"},
    {ErrorCode::kBusy, "busy"},
    {ErrorCode::kInternal, "internal"},
    {ErrorCode::kUnavailable, "unavailable"},
};
}  // namespace

const char* error_code_name(ErrorCode code) {
  for (const auto& n : kNames) {
    if (n.code == code) return n.name;
  }
  return "internal";
}

ErrorCode head_error_code(std::string_view wire_code) {
  for (const auto& n : kNames) {
    if (wire_code == n.name) return n.code;
  }
  return ErrorCode::kInternal;
}

}  // namespace ll::client
