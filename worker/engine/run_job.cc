#include "worker/engine/run_job.h"

#include <new>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spec/params.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/task/train.h"
#include "worker/engine/trainer_spec.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

absl::StatusOr<RunResult> RunJob(const spec::JobSpec& spec, RunSink* sink,
                                 const std::function<bool()>& should_stop) {
  OPTBENCH_ASSIGN_OR_RETURN(const spec::JobSpec validated, Catalog().Validate(spec));
  try {
    return FindTask(validated.task).run(validated, sink, should_stop);
  } catch (const std::bad_alloc&) {
    // Eigen and the standard containers report allocation failure by throwing; no exception
    // crosses the engine's boundary.
    absl::StatusOr<int64_t> estimate = EstimatePeakMemoryBytes(validated);
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory building or running the job",
                     estimate.ok() ? absl::StrCat(" (estimated peak ", *estimate, " bytes)") : ""));
  }
}

absl::StatusOr<int64_t> EstimatePeakMemoryBytes(const spec::JobSpec& spec) {
  OPTBENCH_ASSIGN_OR_RETURN(const spec::JobSpec validated, Catalog().Validate(spec));
  return FindTask(validated.task).peak_memory(validated);
}

absl::StatusOr<std::string> WhySeedCannotMatter(const spec::JobSpec& spec) {
  OPTBENCH_ASSIGN_OR_RETURN(const spec::JobSpec validated, Catalog().Validate(spec));
  if (validated.task != TrainTaskDefinition().spec.name) return std::string();
  const TrainJob job = TrainJob::From(validated);
  // Of the models, only linear can start without drawing anything (init: zeros).
  const auto init = job.model.params.find("init");
  const bool fixed_start = job.model.name == LinearDefinition().spec.name &&
                           init != job.model.params.end() &&
                           spec::FormatParamValue(init->second) == "zeros";
  if (!fixed_start || job.trainer.batch_size != 0 || TrainerAttacks(job.trainer)) {
    return std::string();
  }
  return std::string(
      "model linear with init: zeros, full batch (trainer.batch_size: 0) and no attack draw "
      "nothing at random");
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
