// Test helpers for engine runs: a RunSink that keeps everything a run reports, with each
// evaluation's MetricBatch also read back into typed fields (Evaluation) so that tests can
// assert on the train task's metrics by field; and train jobs validated and run in typed form.
#ifndef OPTBENCH_TESTS_WORKER_ENGINE_RECORDING_SINK_H_
#define OPTBENCH_TESTS_WORKER_ENGINE_RECORDING_SINK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/model.h"
#include "worker/engine/run_job.h"
#include "worker/engine/run_sink.h"
#include "worker/engine/task/train.h"

namespace optbench::engine::testing {

// One split's objective statistics of an evaluation (the cross-entropy objectives' metrics).
struct SplitMetrics {
  Split split = Split::kTrain;
  std::vector<double> loss_sum, correct, p_true_sum, p_mass;
  double loss = 0;
  double accuracy = 0;
  std::vector<Diagnostic> diagnostics;  // The model's ("diag.*") of this split.
};

// A train-task evaluation by field. Absent metrics are empty vectors (or 0).
struct Evaluation {
  int64_t step = 0;
  std::vector<SplitMetrics> splits;  // Train, then test when reported.
  double grad_norm = 0, learning_rate = 0, wall_seconds = 0;
  std::vector<double> head_grad_norm, head_gn_trace, head_weight_norm, head_bias_grad,
      head_update_norm, head_eff_lr;
  MetricBatch batch;  // As reported.

  static Evaluation From(const MetricBatch& batch);
};

// Keeps the run's RunInfo and every evaluation; fails the evaluation at `fail_at_step` (>= 0)
// with Unavailable, as a lost lease would.
class EvaluationRecorder : public RunSink {
 public:
  void OnRunInfo(const RunInfo& run_info) override {
    ++info_calls;
    info = run_info;
  }
  absl::Status OnEvaluation(const MetricBatch& batch) override {
    evals.push_back(Evaluation::From(batch));
    if (fail_at_step >= 0 && batch.step == fail_at_step) {
      return absl::UnavailableError("lease lost");
    }
    return absl::OkStatus();
  }
  void OnStep(int64_t step) override { last_step = step; }

  int info_calls = 0;
  RunInfo info;
  std::vector<Evaluation> evals;
  int64_t last_step = 0;
  int64_t fail_at_step = -1;
};

// `job` validated by the engine's catalog, in typed form (defaults filled in).
absl::StatusOr<TrainJob> ValidateTrainJob(const TrainJob& job);

// RunJob and EstimatePeakMemoryBytes of `job.ToSpec()`.
absl::StatusOr<RunResult> RunJob(const TrainJob& job, RunSink* sink,
                                 const std::function<bool()>& should_stop);
absl::StatusOr<int64_t> EstimatePeakMemoryBytes(const TrainJob& job);

// ModelFootprintOf's parameter count and work-buffer Reals per row.
absl::StatusOr<int64_t> ModelParameterCount(const std::string& name, const spec::ParamMap& params,
                                            int64_t num_features, int64_t num_classes);
absl::StatusOr<int64_t> ModelBufferRealsPerRow(const std::string& name,
                                               const spec::ParamMap& params, int64_t num_features,
                                               int64_t num_classes);

}  // namespace optbench::engine::testing

#endif  // OPTBENCH_TESTS_WORKER_ENGINE_RECORDING_SINK_H_
