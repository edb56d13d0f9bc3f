// Minimal leveled logging to stderr (Abseil 20220623 has no absl/log). Thread-safe: each call
// writes one line with a single fwrite. Two formats (SetLogFormat; the daemons' --log_format):
//   plain I 07:21:02.088 [scheduler] job s-1-0 (attempt 1) leased to w1 job=s-1-0 attempt=1 ...
//   json  {"ts":"2026-12-04T07:21:02.088Z","level":"info","component":"scheduler","msg":"...",
//          "job":"s-1-0","attempt":1,"worker":"w1"}
// Job events carry the fields job, attempt and worker (JobFields) in both.
#ifndef OPTBENCH_COMMON_LOGGING_H_
#define OPTBENCH_COMMON_LOGGING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace optbench {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// A key=value pair of a log line. `number`: the value is a number (unquoted in JSON).
struct LogField {
  std::string key;
  std::string value;
  bool number = false;
};
using LogFields = std::vector<LogField>;

// The fields of a job event; an empty worker is left out.
LogFields JobFields(absl::string_view job_id, int64_t attempt, absl::string_view worker_id);

// "plain" or "json"; false for anything else.
bool ParseLogFormat(absl::string_view name, LogFormat* format);
void SetLogFormat(LogFormat format);

// Messages below `level` are dropped. Default kInfo; OPTBENCH_LOG_LEVEL=debug|info|warning|error
// in the environment overrides it at first use.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, absl::string_view component, absl::string_view message,
             const LogFields& fields = {});

template <typename... Args>
void Log(LogLevel level, absl::string_view component, const absl::FormatSpec<Args...>& format,
         const Args&... args) {
  if (LogEnabled(level)) LogLine(level, component, absl::StrFormat(format, args...));
}

// Log with fields (a job event: JobFields(...)).
template <typename... Args>
void LogEvent(LogLevel level, absl::string_view component, const LogFields& fields,
              const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (LogEnabled(level)) LogLine(level, component, absl::StrFormat(format, args...), fields);
}

}  // namespace optbench

#endif  // OPTBENCH_COMMON_LOGGING_H_
