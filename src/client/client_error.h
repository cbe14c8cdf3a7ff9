// What a client call of a daemon can fail with: an ErrorCode to branch on and a one-line message to show (never
// parsed). ClientResult<T> is Result<T> with such an error. Shared by the control calls, the head stream and the
// resume loop. Thread-safety: value types and stateless functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "lingualinked/result.h"

namespace ll::client {

enum class ErrorCode {
  // From this side of the connection.
  kUnreachable,  // no connection could be made, or the socket failed
  kTimeout,      // connected (or trying) but no answer in time
  kRefused,      // the peer refused this client's CURVE key, or the handshake failed
  kMalformed,    // an answer that does not decode or has a field of the wrong kind
  kLost,         // the head stage went away (its connection dropped, or none was made): ask where it is now
  kDaemonError,  // a daemon answered a control call with an error reply
  kNoModel,      // the cluster has no model loaded (no head stage)
  // From the head stage (its DataErrorMsg code), or the resume loop giving up (kUnavailable).
  kBadRequest,
  kNotReady,  // the head is alive but does not serve the model yet (during a re-plan): ask again shortly
  kBusy,
  kInternal,
  kUnavailable,
};

// The code's name as the protocol and the HTTP API spell it ("not_ready", "lost", ...).
[[nodiscard]] const char* error_code_name(ErrorCode code);
// The code of a head's DataErrorMsg; a code this client does not know is kInternal.
[[nodiscard]] ErrorCode head_error_code(std::string_view wire_code);

struct ClientError {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line, for people
};

// A value or a ClientError. Same shape as ll::Result, so LL_TRY_STATUS / LL_ASSIGN_OR_RETURN work inside functions
// returning ClientResult.
template <typename T>
class [[nodiscard]] ClientResult {
 public:
  ClientResult(T value) : data_(std::move(value)) {}            // NOLINT: implicit by design
  ClientResult(ClientError error) : data_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const ClientError& error() const { return std::get<ClientError>(data_); }
  ClientError take_error() const { return std::get<ClientError>(data_); }

 private:
  std::variant<T, ClientError> data_;
};

}  // namespace ll::client
