// JSON string literals: the one encoder the logs, the stored labels and the query answers use.
#ifndef OPTBENCH_COMMON_JSON_H_
#define OPTBENCH_COMMON_JSON_H_

#include <string>

#include "absl/strings/string_view.h"

namespace optbench {

// Appends `text` as a JSON string's contents (no quotes): '"' and '\' escaped, \n \r \t and \b
// \f short, other control characters as \u00XX, valid UTF-8 as is, and every byte that does not
// start or continue a valid UTF-8 sequence (a stray continuation byte, a truncated or overlong
// sequence, a surrogate, a code point above U+10FFFF) as \ufffd, so the output is always valid
// JSON (RFC 8259 requires UTF-8) whatever a peer sent.
void AppendJsonEscaped(absl::string_view text, std::string* out);
// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

}  // namespace optbench

#endif  // OPTBENCH_COMMON_JSON_H_
