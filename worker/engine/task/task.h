// TaskDef: a registered task — the unit a job runs — its declaration (components by slot,
// settings, metrics, cross-component rules; spec::TaskSpec) and how it runs and is sized. The
// worker, checkpoints, cancellation and progress go through RunJob (run_job.h) without knowing
// which task runs. Tasks are listed in the task table (worker/engine/catalog.cc).
#ifndef OPTBENCH_WORKER_ENGINE_TASK_TASK_H_
#define OPTBENCH_WORKER_ENGINE_TASK_TASK_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "spec/component.h"
#include "spec/job_spec.h"
#include "worker/engine/precision.h"
#include "worker/engine/run_sink.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct TaskDef {
  spec::TaskSpec spec;
  // Runs a validated spec of this task (every default filled in), streaming to `sink`;
  // `should_stop` (may be empty) is polled between steps. The contract of RunJob.
  std::function<absl::StatusOr<RunResult>(const spec::JobSpec& validated, RunSink* sink,
                                          const std::function<bool()>& should_stop)>
      run;
  // The peak heap use of a validated spec, in bytes (EstimatePeakMemoryBytes).
  std::function<absl::StatusOr<int64_t>(const spec::JobSpec& validated)> peak_memory;
  // The setting that drives peak_memory, for the message of a job over a worker's limit
  // ("convex.patterns: ..."); empty = none stands out.
  std::string memory_driver;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TASK_TASK_H_
