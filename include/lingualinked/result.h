// Result<T>: a value or an error message. Errors are values inside lingualinked; exceptions appear only at the
// edges (main functions, libtorch calls, which are caught in src/runtime/). Thread-safety: a plain value type.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ll {

struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : data_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const std::string& error() const { return std::get<Error>(data_).message; }
  Error take_error() const { return std::get<Error>(data_); }

 private:
  std::variant<T, Error> data_;
};

// Status: success or an error, for operations without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error.message)) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string& error() const { return *error_; }
  Error take_error() const { return Error{*error_}; }

 private:
  std::optional<std::string> error_;
};

inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace ll

// Propagate an error from an expression yielding Result<T> or Status.
#define LL_TRY_STATUS(expr)                               \
  do {                                                    \
    auto ll_status_ = (expr);                             \
    if (!ll_status_.ok()) return ll_status_.take_error(); \
  } while (0)

#define LL_CONCAT_INNER(a, b) a##b
#define LL_CONCAT(a, b) LL_CONCAT_INNER(a, b)
// LL_ASSIGN_OR_RETURN(auto x, expr): x = expr.value() or return the error.
#define LL_ASSIGN_OR_RETURN(lhs, expr) LL_ASSIGN_OR_RETURN_IMPL(LL_CONCAT(ll_result_, __LINE__), lhs, expr)
#define LL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.take_error();        \
  lhs = std::move(tmp).value()
