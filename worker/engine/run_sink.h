// What a running job reports and how: the RunSink interface through which every task streams
// its metrics, progress and checkpoints to whoever runs it (the worker, a test). Eigen-free and
// task-agnostic: the worker forwards what it gets without knowing which task produced it.
#ifndef OPTBENCH_WORKER_ENGINE_RUN_SINK_H_
#define OPTBENCH_WORKER_ENGINE_RUN_SINK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/metric.h"

namespace optbench::engine {

using spec::Split;

// Sent once per run, before the first evaluation: the data's classes and the metrics the run
// will report (a subset of its catalog declaration, kPerItem ones with their items named).
struct RunInfo {
  int64_t num_classes = 0;
  int64_t num_features = 0;
  // Targets of class k in each split (one per example, or one per position for objectives that
  // score every position): the denominators of per-class means and the frequency groups.
  std::vector<int64_t> train_class_counts;  // Length num_classes.
  std::vector<int64_t> test_class_counts;   // Length num_classes; empty if no test split.
  std::vector<spec::MetricSpec> metrics;
};

// One metric at one evaluation for one split: a scalar, or a packed vector (per class, per item).
struct MetricValue {
  std::string metric;  // The declared name.
  Split split = Split::kTrain;
  std::vector<double> values;
};

// Everything one evaluation reports. `step` = optimizer steps taken before it (0 = the start).
struct MetricBatch {
  int64_t step = 0;
  std::vector<MetricValue> values;

  void Add(std::string metric, Split split, std::vector<double> v) {
    values.push_back({std::move(metric), split, std::move(v)});
  }
  // The value reported as `metric` for `split`, or null.
  const MetricValue* Find(absl::string_view metric, Split split = Split::kTrain) const {
    for (const MetricValue& v : values) {
      if (v.metric == metric && v.split == split) return &v;
    }
    return nullptr;
  }
};

// Receives a run's output. Called from the running thread only.
class RunSink {
 public:
  virtual ~RunSink() = default;
  virtual void OnRunInfo(const RunInfo& info) = 0;
  // A non-OK status stops the run and RunJob returns it (e.g. the lease was lost).
  virtual absl::Status OnEvaluation(const MetricBatch& batch) = 0;
  // Progress after each step (cheap; may be rate-limited by the sink).
  virtual void OnStep(int64_t /*step*/) {}

  // Checkpoints. A task saves one after step t when its own setting says so (trainer
  // checkpoint_every) or, when that is 0, when CheckpointDue(t, false) says so (the worker's
  // time-based policy); and before it stops because should_stop said so when
  // CheckpointDue(t, true) says so (a graceful preemption). The default never does.
  virtual bool CheckpointDue(int64_t /*step*/, bool /*stopping*/) { return false; }
  // The bytes of the checkpoint after `step` steps. A non-OK status stops the run.
  virtual absl::Status OnCheckpoint(int64_t /*step*/, std::string /*bytes*/) {
    return absl::OkStatus();
  }
  // Resuming: before running, a task asks for the newest stored checkpoint with step <
  // before_step (first INT64_MAX) and tries it; one that cannot be restored (corrupt: DataLoss;
  // another model or precision: FailedPrecondition) goes to OnCheckpointRejected and the task
  // asks for the next older one, down to none (step 0). An error status fails the run.
  struct StoredCheckpoint {
    int64_t step = 0;
    std::string bytes;
  };
  virtual absl::StatusOr<std::optional<StoredCheckpoint>> LoadCheckpoint(int64_t /*before_step*/) {
    return std::optional<StoredCheckpoint>();
  }
  virtual void OnCheckpointRejected(int64_t /*step*/, const absl::Status& /*why*/) {}
  // The run continues from the checkpoint after `step` steps.
  virtual void OnResumed(int64_t /*step*/) {}

  // Kept models (issue 11). A train job with trainer.keep_model sends its final model once,
  // after its last evaluation and before it returns kCompleted: `bytes` in the kept-model format
  // (kept_model.h). A non-OK status stops the run (the job must not succeed without its model).
  // The default drops it.
  virtual absl::Status OnKeptModel(std::string /*bytes*/) { return absl::OkStatus(); }
  // A job of a task that works on another job's kept model (TaskSpec::source, the quantize
  // task): the bytes that job kept. NotFound when there is none; the default has none.
  virtual absl::StatusOr<std::string> LoadSourceModel() {
    return absl::NotFoundError("this runner has no source models");
  }
};

enum class RunOutcome { kCompleted, kDiverged, kCancelled };

struct RunResult {
  RunOutcome outcome = RunOutcome::kCompleted;
  int64_t steps_done = 0;
  std::string message;       // Why it diverged, etc.
  int64_t resumed_from = 0;  // The checkpoint's step this run started from (0 = the start).
};

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_RUN_SINK_H_
