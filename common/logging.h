// Minimal leveled logging to stderr (Abseil 20220623 has no absl/log). Thread-safe: each call
// writes one line with a single fwrite.
#ifndef OPTBENCH_COMMON_LOGGING_H_
#define OPTBENCH_COMMON_LOGGING_H_

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace optbench {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Default kInfo; OPTBENCH_LOG_LEVEL=debug|info|warning|error
// in the environment overrides it at first use.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, absl::string_view component, absl::string_view message);

template <typename... Args>
void Log(LogLevel level, absl::string_view component, const absl::FormatSpec<Args...>& format,
         const Args&... args) {
  if (LogEnabled(level)) LogLine(level, component, absl::StrFormat(format, args...));
}

}  // namespace optbench

#endif  // OPTBENCH_COMMON_LOGGING_H_
