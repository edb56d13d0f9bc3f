#include "worker/engine/observer/diagnostics.h"

#include <utility>

#include "common/check.h"
#include "worker/engine/model/model_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void DiagnosticsObserver::Declare(std::vector<spec::MetricSpec>* out) const {
  out->insert(out->end(), declared_.begin(), declared_.end());
}

void DiagnosticsObserver::Evaluate(const EvaluationContext& ctx, MetricBatch* out) {
  if (declared_.empty()) return;
  const Dataset& data = *ctx.data;
  const Split splits[] = {Split::kTrain, Split::kTest};
  for (Split split : splits) {
    if (split == Split::kTest && !data.has_test()) continue;
    const DataSplit& s = split == Split::kTrain ? data.train() : data.test();
    scratch_.clear();
    ctx.model->Diagnostics(s.features, s.labels, data.num_classes(), &scratch_);
    for (Diagnostic& d : scratch_) {
      std::string metric = DiagnosticMetricName(d.name);
      // A diagnostic the model did not declare is a programming error: the coordinator would
      // refuse it.
      OPTBENCH_CHECK(spec::FindMetric(declared_, metric) != nullptr);
      out->Add(std::move(metric), split, std::move(d.values));
    }
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
