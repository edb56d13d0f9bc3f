// libFuzzer entry point for the sweep-file parser: any input must give a status, never a crash,
// an escaping exception or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sweep/sweep_file.h"
#include "worker/engine/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  optbench::sweep::ParseOptions options;
  options.max_jobs = 1000;
  const auto sweep =
      optbench::sweep::ParseSweep(text, "fuzz.yaml", optbench::engine::Catalog(), options);
  if (!sweep.ok() && sweep.status().code() != absl::StatusCode::kInvalidArgument &&
      sweep.status().code() != absl::StatusCode::kResourceExhausted) {
    std::abort();  // Internal means an unexpected exception was caught: worth a look.
  }
  if (sweep.ok() &&
      (sweep->jobs.empty() || static_cast<int64_t>(sweep->jobs.size()) > options.max_jobs)) {
    std::abort();
  }
  return 0;
}
