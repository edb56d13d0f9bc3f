#include "common/logging.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"

namespace optbench {
namespace {

LogLevel LevelFromEnv() {
  const char* env = std::getenv("OPTBENCH_LOG_LEVEL");
  if (env == nullptr) return LogLevel::kInfo;
  std::string v = absl::AsciiStrToLower(env);
  if (v == "debug") return LogLevel::kDebug;
  if (v == "warning") return LogLevel::kWarning;
  if (v == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int>& Level() {
  static std::atomic<int> level(static_cast<int>(LevelFromEnv()));
  return level;
}

std::atomic<int>& Format() {
  static std::atomic<int> format(static_cast<int>(LogFormat::kText));
  return format;
}

std::string JsonEscape(absl::string_view text) {
  std::string out;
  AppendJsonEscaped(text, &out);
  return out;
}

// A key=value value: bare when it has no space, quote or '=', else quoted like JSON.
std::string TextValue(absl::string_view value) {
  if (!value.empty() && value.find_first_of(" \"=\n\t") == absl::string_view::npos) {
    return std::string(value);
  }
  return absl::StrCat("\"", JsonEscape(value), "\"");
}

const char* LevelWord(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "D";
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { Level().store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= Level().load(); }

LogFields JobFields(absl::string_view job_id, int64_t attempt, absl::string_view worker_id) {
  LogFields fields = {{"job", std::string(job_id)}, {"attempt", absl::StrCat(attempt), true}};
  if (!worker_id.empty()) fields.push_back({"worker", std::string(worker_id)});
  return fields;
}

bool ParseLogFormat(absl::string_view name, LogFormat* format) {
  if (name == "plain") {
    *format = LogFormat::kText;
  } else if (name == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void SetLogFormat(LogFormat format) { Format().store(static_cast<int>(format)); }

void LogLine(LogLevel level, absl::string_view component, absl::string_view message,
             const LogFields& fields) {
  std::string line;
  const absl::Time now = absl::Now();
  if (Format().load() == static_cast<int>(LogFormat::kJson)) {
    line = absl::StrCat("{\"ts\":\"",
                        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
                        "\",\"level\":\"", LevelWord(level), "\",\"component\":\"",
                        JsonEscape(component), "\",\"msg\":\"", JsonEscape(message), "\"");
    for (const LogField& f : fields) {
      absl::StrAppend(&line, ",\"", JsonEscape(f.key), "\":");
      if (f.number) {
        absl::StrAppend(&line, f.value);
      } else {
        absl::StrAppend(&line, "\"", JsonEscape(f.value), "\"");
      }
    }
    line += "}\n";
  } else {
    line = absl::StrCat(LevelName(level), " ",
                        absl::FormatTime("%H:%M:%E3S", now, absl::LocalTimeZone()), " [", component,
                        "] ", message);
    for (const LogField& f : fields) absl::StrAppend(&line, " ", f.key, "=", TextValue(f.value));
    line += "\n";
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace optbench
