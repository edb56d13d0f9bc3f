#include "spec/source.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace optbench::spec {
namespace {

constexpr char kSweepKey[] = "sweep";
constexpr char kForms[] =
    "give a job id (s-1a2b3c4d-0) or a filter sweep=<id or name>[,<label>=<value>...]";

absl::Status Bad(absl::string_view text, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("source: '", text, "': ", problem, "; ", kForms));
}

}  // namespace

absl::StatusOr<SourceSpec> ParseSource(absl::string_view text) {
  SourceSpec source;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (trimmed.empty()) return Bad(text, "empty");
  if (!absl::StartsWith(trimmed, absl::StrCat(kSweepKey, "="))) {
    for (char c : trimmed) {
      if (c == '=' || c == ',' || absl::ascii_isspace(static_cast<unsigned char>(c))) {
        return Bad(text, "not a job id, and a filter starts with sweep=");
      }
    }
    source.job_id = std::string(trimmed);
    return source;
  }
  // Pieces without '=' belong to the value before them (a list value's commas).
  std::vector<std::pair<std::string, std::string>> terms;
  for (absl::string_view piece : absl::StrSplit(trimmed, ',')) {
    const size_t eq = piece.find('=');
    if (eq == absl::string_view::npos) {
      absl::StrAppend(&terms.back().second, ",", piece);
      continue;
    }
    terms.emplace_back(std::string(absl::StripAsciiWhitespace(piece.substr(0, eq))),
                       std::string(piece.substr(eq + 1)));
  }
  for (auto& [key, value] : terms) {
    value = std::string(absl::StripAsciiWhitespace(value));
    if (key.empty()) return Bad(text, absl::StrCat("a term '=", value, "' has no label"));
    if (value.empty()) return Bad(text, absl::StrCat("label '", key, "' has no value"));
  }
  source.sweep = terms.front().second;
  for (size_t i = 1; i < terms.size(); ++i) {
    if (terms[i].first == kSweepKey) return Bad(text, "names a sweep twice");
    source.filter.push_back(std::move(terms[i]));
  }
  return source;
}

std::string FormatSource(const SourceSpec& source) {
  if (!source.job_id.empty()) return source.job_id;
  std::string out = absl::StrCat(kSweepKey, "=", source.sweep);
  for (const auto& [key, value] : source.filter) absl::StrAppend(&out, ",", key, "=", value);
  return out;
}

}  // namespace optbench::spec
