#include "tests/worker/engine/recording_sink.h"

#include "absl/strings/match.h"

namespace optbench::engine::testing {
namespace {

// The values of `metric` for `split`, or empty.
std::vector<double> Values(const MetricBatch& batch, const char* metric,
                           Split split = Split::kTrain) {
  const MetricValue* v = batch.Find(metric, split);
  return v == nullptr ? std::vector<double>() : v->values;
}

double Scalar(const MetricBatch& batch, const char* metric, Split split = Split::kTrain) {
  const std::vector<double> v = Values(batch, metric, split);
  return v.empty() ? 0 : v[0];
}

}  // namespace

Evaluation Evaluation::From(const MetricBatch& batch) {
  Evaluation e;
  e.batch = batch;
  e.step = batch.step;
  for (Split split : {Split::kTrain, Split::kTest}) {
    if (batch.Find("loss_sum", split) == nullptr) continue;
    SplitMetrics m;
    m.split = split;
    m.loss_sum = Values(batch, "loss_sum", split);
    m.correct = Values(batch, "correct", split);
    m.p_true_sum = Values(batch, "p_true_sum", split);
    m.p_mass = Values(batch, "p_mass", split);
    m.loss = Scalar(batch, "loss", split);
    m.accuracy = Scalar(batch, "accuracy", split);
    for (const MetricValue& v : batch.values) {
      if (v.split == split && absl::StartsWith(v.metric, "diag.")) {
        m.diagnostics.push_back({v.metric.substr(5), v.values});
      }
    }
    e.splits.push_back(std::move(m));
  }
  e.grad_norm = Scalar(batch, "grad_norm");
  e.learning_rate = Scalar(batch, "lr");
  e.wall_seconds = Scalar(batch, "wall_seconds");
  e.head_grad_norm = Values(batch, "head_grad_norm");
  e.head_gn_trace = Values(batch, "head_gn_trace");
  e.head_weight_norm = Values(batch, "head_weight_norm");
  e.head_bias_grad = Values(batch, "head_bias_grad");
  e.head_update_norm = Values(batch, "head_update_norm");
  e.head_eff_lr = Values(batch, "head_eff_lr");
  return e;
}

absl::StatusOr<TrainJob> ValidateTrainJob(const TrainJob& job) {
  absl::StatusOr<spec::JobSpec> validated = Catalog().Validate(job.ToSpec());
  if (!validated.ok()) return validated.status();
  return TrainJob::From(*validated);
}

absl::StatusOr<RunResult> RunJob(const TrainJob& job, RunSink* sink,
                                 const std::function<bool()>& should_stop) {
  return engine::RunJob(job.ToSpec(), sink, should_stop);
}

absl::StatusOr<int64_t> EstimatePeakMemoryBytes(const TrainJob& job) {
  return engine::EstimatePeakMemoryBytes(job.ToSpec());
}

absl::StatusOr<int64_t> ModelParameterCount(const std::string& name, const spec::ParamMap& params,
                                            int64_t num_features, int64_t num_classes) {
  absl::StatusOr<ModelFootprint> f = ModelFootprintOf(name, params, num_features, num_classes);
  if (!f.ok()) return f.status();
  return f->parameters;
}

absl::StatusOr<int64_t> ModelBufferRealsPerRow(const std::string& name,
                                               const spec::ParamMap& params, int64_t num_features,
                                               int64_t num_classes) {
  absl::StatusOr<ModelFootprint> f = ModelFootprintOf(name, params, num_features, num_classes);
  if (!f.ok()) return f.status();
  return f->buffer_reals_per_row;
}

}  // namespace optbench::engine::testing
