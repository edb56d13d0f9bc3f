// The source of a job whose task works on the model another job kept (TaskSpec::source_slots;
// issue 11), as its kSourceSetting text says it at submission: a job id ("s-1a2b3c4d-0"), or a
// filter over the jobs of a sweep, "sweep=<id or name>" followed by ",<label>=<value>" terms
// ("sweep=paper5_train,optimizer=adam,model=mlp"). A sweep file's `source: {sweep: paper5_train,
// optimizer: adam}` becomes that text; the coordinator resolves it (server/source_resolution.h).
// A value may hold commas ("model.hidden=[256, 128]"): a piece without '=' continues the value
// before it, so only a value holding ",<word>=" cannot be written.
#ifndef OPTBENCH_SPEC_SOURCE_H_
#define OPTBENCH_SPEC_SOURCE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace optbench::spec {

struct SourceSpec {
  std::string job_id;  // Set for one job; then `sweep` and `filter` are empty.
  std::string sweep;   // A sweep id, or a sweep name (its most recent sweep).
  // (label, value) terms a job of the sweep must all match, in the order written.
  std::vector<std::pair<std::string, std::string>> filter;

  bool operator==(const SourceSpec& other) const {
    return job_id == other.job_id && sweep == other.sweep && filter == other.filter;
  }
};

// Reads a source text. InvalidArgument "source: ..." naming the problem and the two forms: an
// empty text, a job id holding '=', ',' or spaces, a filter without its sweep or with an empty
// label or value, or with "sweep" twice.
absl::StatusOr<SourceSpec> ParseSource(absl::string_view text);

// The text ParseSource reads back to `source` (keys and values as they are; no spaces added).
std::string FormatSource(const SourceSpec& source);

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_SOURCE_H_
