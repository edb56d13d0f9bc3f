// RunJob: the engine's single entry point for the worker. Builds dataset, model and optimizer
// from a JobSpec, trains, and streams per-class evaluations to a sink.
#ifndef OPTBENCH_WORKER_ENGINE_RUN_JOB_H_
#define OPTBENCH_WORKER_ENGINE_RUN_JOB_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/job_spec.h"
#include "worker/engine/precision.h"

namespace optbench::engine {

enum class Split { kTrain, kTest };

// Sent once per run, before the first evaluation.
struct DatasetInfo {
  int64_t num_classes = 0;
  int64_t num_features = 0;
  std::vector<int64_t> train_class_counts;  // Length num_classes.
  std::vector<int64_t> test_class_counts;   // Length num_classes; empty if no test split.
};

// A statistic a model reports at each evaluation beside the per-class core (paper 3's attention
// diagnostics, ALGORITHMS.md 3.5). `name` is [a-z0-9_]+, unique per split; `values` has one entry
// (a scalar) or num_classes entries (per class: a mean over the class's examples). Sent on the
// wire as metric "diag.<name>".
struct Diagnostic {
  std::string name;
  std::vector<double> values;
};

// Per-class metrics of one split at one evaluation step (ALGORITHMS.md section 6.1). Vectors
// have length num_classes; sums are in float64 regardless of the engine precision.
struct SplitMetrics {
  Split split = Split::kTrain;
  std::vector<double> loss_sum;    // Sum of per-example cross-entropy over examples of class k.
  std::vector<double> correct;     // Number of class-k examples whose argmax is k.
  std::vector<double> p_true_sum;  // Sum of softmax probability of the true class, class k.
  std::vector<double> p_mass;      // Sum over all examples of predicted probability of class k.
  double loss = 0;                 // Mean loss over the split.
  double accuracy = 0;             // Fraction correct over the split.
  std::vector<Diagnostic> diagnostics;  // Model::Diagnostics of this split (empty for most).
};

// One evaluation. `step` = number of optimizer steps taken before it (0 = initial parameters).
struct Evaluation {
  int64_t step = 0;
  std::vector<SplitMetrics> splits;  // Train first, then test if the dataset has one.
  double grad_norm = 0;  // L2 norm over all parameters of the full-batch train gradient (or
                         // the current minibatch gradient in mini-batch mode) at this step.
  double learning_rate = 0;
  double wall_seconds = 0;  // Since training started (excludes dataset loading).
  // Class-row statistics of the output layer W (classes x h; row k belongs to class k),
  // ALGORITHMS.md 6.2, length num_classes; empty when the model has no output head.
  std::vector<double> head_grad_norm;    // ||row k of the gradient of W||_2 (the same gradient
                                         // as grad_norm: full batch, or the mini-batch).
  std::vector<double> head_gn_trace;     // (1/n) sum_i p_ik (1 - p_ik) ||h_i||^2 over the n train
                                         // examples, h_i the input of W: the trace of the
                                         // Gauss-Newton block of row k. Empty if the model does
                                         // not expose h_i.
  std::vector<double> head_weight_norm;  // ||row k of W||_2.
  std::vector<double> head_bias_grad;    // |dL/db_k| for the output layer's bias b (the same
                                         // gradient); empty when the head has no bias.
  std::vector<double> head_update_norm;  // ||row k of W_t - W_{t-1}||_2: the last step's update;
                                         // empty at the run's first evaluation.
  std::vector<double> head_eff_lr;       // Mean over row k of the optimizer's per-coordinate
                                         // step size (Optimizer::EffectiveStepSizes at
                                         // learning_rate); empty for rules without one.
};

// Receives the run's output. Called from the training thread only.
class MetricSink {
 public:
  virtual ~MetricSink() = default;
  virtual void OnDatasetInfo(const DatasetInfo& info) = 0;
  // A non-OK status stops training and RunJob returns it (e.g. the lease was lost).
  virtual absl::Status OnEvaluation(const Evaluation& eval) = 0;
  // Progress after each optimizer step (cheap; may be rate-limited by the sink).
  virtual void OnStep(int64_t /*step*/) {}

  // Checkpoints (checkpoint.h). Asked before each step t > the step the run started from:
  // whether to save the state after t steps; `stopping` when the run is about to end because
  // should_stop said so (a graceful preemption saves its progress). The default never does.
  virtual bool CheckpointDue(int64_t /*step*/, bool /*stopping*/) { return false; }
  // The bytes of the checkpoint after `step` steps. A non-OK status stops training and RunJob
  // returns it.
  virtual absl::Status OnCheckpoint(int64_t /*step*/, std::string /*bytes*/) {
    return absl::OkStatus();
  }
  // Resuming: before training, RunJob asks for the newest stored checkpoint with step <
  // before_step (first INT64_MAX) and tries it; one that cannot be restored (corrupt: DataLoss;
  // another model or precision: FailedPrecondition) goes to OnCheckpointRejected and RunJob asks
  // for the next older one, down to none (step 0). An error status fails the run. Default: none.
  struct StoredCheckpoint {
    int64_t step = 0;
    std::string bytes;
  };
  virtual absl::StatusOr<std::optional<StoredCheckpoint>> LoadCheckpoint(int64_t /*before_step*/) {
    return std::optional<StoredCheckpoint>();
  }
  virtual void OnCheckpointRejected(int64_t /*step*/, const absl::Status& /*why*/) {}
  // Training continues from the checkpoint after `step` steps.
  virtual void OnResumed(int64_t /*step*/) {}
};

enum class RunOutcome { kCompleted, kDiverged, kCancelled };

struct RunResult {
  RunOutcome outcome = RunOutcome::kCompleted;
  int64_t steps_done = 0;
  std::string message;       // Why it diverged, etc.
  int64_t resumed_from = 0;  // The checkpoint's step this run started from (0 = the start).
};

inline namespace OPTBENCH_ENGINE_PRECISION {

// Runs `spec` (which must have passed ValidateJobSpec). `should_stop` is polled between steps;
// when it returns true the run ends with kCancelled. Errors: InvalidArgument for a spec that
// cannot be built (e.g. a csv file that does not parse, with file and line), ResourceExhausted if
// memory cannot be allocated, or the sink's status.
// Deterministic: the same spec gives bit-identical metrics (wall_seconds aside) on one machine.
// `should_stop` may be empty. kDiverged: the step whose loss or gradient is not finite is not
// sent as an evaluation; RunResult.message names the step and the last evaluation sent.
absl::StatusOr<RunResult> RunJob(const JobSpec& spec, MetricSink* sink,
                                 const std::function<bool()>& should_stop);

// An estimate of the engine's peak heap use for `spec`, in bytes: the data set's features and
// labels, model parameters and gradients, optimizer state, and the trainer's buffers, at the
// engine's precision (the process's own baseline is not included). Exact in the sizes it counts
// for synthetic data sets; for csv it scans the files (rows, columns and, when num_classes is 0,
// the labels) without loading them. InvalidArgument as ValidateJobSpec, or for csv files that
// cannot be read or parsed.
absl::StatusOr<int64_t> EstimatePeakMemoryBytes(const JobSpec& spec);

}  // namespace OPTBENCH_ENGINE_PRECISION

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_RUN_JOB_H_
