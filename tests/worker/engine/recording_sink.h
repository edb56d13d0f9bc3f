// A MetricSink for engine tests that keeps every evaluation RunJob reports.
#ifndef OPTBENCH_TESTS_WORKER_ENGINE_RECORDING_SINK_H_
#define OPTBENCH_TESTS_WORKER_ENGINE_RECORDING_SINK_H_

#include <vector>

#include "worker/engine/run_job.h"

namespace optbench::engine::testing {

class EvaluationRecorder : public MetricSink {
 public:
  void OnDatasetInfo(const DatasetInfo&) override {}
  absl::Status OnEvaluation(const Evaluation& eval) override {
    evals.push_back(eval);
    return absl::OkStatus();
  }
  std::vector<Evaluation> evals;
};

}  // namespace optbench::engine::testing

#endif  // OPTBENCH_TESTS_WORKER_ENGINE_RECORDING_SINK_H_
