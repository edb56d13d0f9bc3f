// The model's own statistics (Model::Diagnostics; paper 3's attention diagnostics, ALGORITHMS.md
// 3.5) as an observer: at every evaluation, each split's diagnostics, under the metric names the
// model declares (ModelDef::spec.metrics).
#ifndef OPTBENCH_WORKER_ENGINE_OBSERVER_DIAGNOSTICS_H_
#define OPTBENCH_WORKER_ENGINE_OBSERVER_DIAGNOSTICS_H_

#include <vector>

#include "spec/metric.h"
#include "worker/engine/observer/observer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

class DiagnosticsObserver : public Observer {
 public:
  // `declared`: the model's declared diagnostics (empty: the observer reports nothing and runs
  // no pass).
  explicit DiagnosticsObserver(std::vector<spec::MetricSpec> declared)
      : declared_(std::move(declared)) {}

  void Declare(std::vector<spec::MetricSpec>* out) const override;
  // Runs after the trainer's passes (Diagnostics may run forward passes of its own); the
  // gradients it leaves untouched are those of the step.
  void Evaluate(const EvaluationContext& ctx, MetricBatch* out) override;

 private:
  std::vector<spec::MetricSpec> declared_;
  std::vector<Diagnostic> scratch_;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OBSERVER_DIAGNOSTICS_H_
