// RunJob: the engine's single entry point for the worker. Validates a job spec, runs its task
// (task/task.h) and streams what it reports to a RunSink (run_sink.h), whatever the task.
#ifndef OPTBENCH_WORKER_ENGINE_RUN_JOB_H_
#define OPTBENCH_WORKER_ENGINE_RUN_JOB_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"
#include "worker/engine/precision.h"
#include "worker/engine/run_sink.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Runs `spec` (validated here against Catalog()). `should_stop` is polled between steps; when it
// returns true the run ends with kCancelled. Errors: InvalidArgument for a spec that does not
// validate or cannot be built (e.g. a csv file that does not parse, with file and line),
// ResourceExhausted if memory cannot be allocated, or the sink's status.
// Deterministic: the same spec gives bit-identical metrics (wall_seconds aside) on one machine.
// `should_stop` may be empty. kDiverged: the step whose loss or gradient is not finite is not
// sent as an evaluation; RunResult.message names the step and the last evaluation sent.
absl::StatusOr<RunResult> RunJob(const spec::JobSpec& spec, RunSink* sink,
                                 const std::function<bool()>& should_stop);

// An estimate of the engine's peak heap use for `spec`, in bytes: the data set's features and
// labels, model parameters and gradients, optimizer state, and the task's buffers, at the
// engine's precision (the process's own baseline is not included). Exact in the sizes it counts
// for synthetic data sets; for files it reads their headers or scans them (rows, columns and,
// when num_classes is 0, the labels) without loading them. InvalidArgument as RunJob's
// validation, or for files that cannot be read or parsed.
absl::StatusOr<int64_t> EstimatePeakMemoryBytes(const spec::JobSpec& spec);

// Why the seed of `spec` cannot change its result, or "" when it can (or may). The seed drives a
// model's random initialization, mini-batch sampling and attacks' random starts (data sets have
// their own data_seed), so a train job of model linear with init zeros, trained full batch
// (trainer.batch_size 0) without adversarial training or attack_epsilon, computes the same for
// every seed. Other tasks and models: "". InvalidArgument as EstimatePeakMemoryBytes.
absl::StatusOr<std::string> WhySeedCannotMatter(const spec::JobSpec& spec);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_RUN_JOB_H_
