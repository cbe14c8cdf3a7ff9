// Minimal leveled logging to stderr, one line per message. Thread-safe (one mutex around each write).
#pragma once

#include <optional>
#include <sstream>
#include <string>

namespace ll {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
[[nodiscard]] std::optional<LogLevel> parse_log_level(const std::string& name);  // nullopt if unknown
LogLevel log_level();
void set_log_prefix(const std::string& prefix);  // e.g. the daemon's name
void log_line(LogLevel level, const std::string& message);

}  // namespace ll

#define LL_LOG(level, expr)                                               \
  do {                                                                    \
    if (static_cast<int>(level) >= static_cast<int>(::ll::log_level())) { \
      std::ostringstream ll_log_stream_;                                  \
      ll_log_stream_ << expr;                                             \
      ::ll::log_line(level, ll_log_stream_.str());                        \
    }                                                                     \
  } while (0)
#define LL_DEBUG(expr) LL_LOG(::ll::LogLevel::kDebug, expr)
#define LL_INFO(expr) LL_LOG(::ll::LogLevel::kInfo, expr)
#define LL_WARN(expr) LL_LOG(::ll::LogLevel::kWarn, expr)
#define LL_ERROR(expr) LL_LOG(::ll::LogLevel::kError, expr)
