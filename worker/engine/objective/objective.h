// Objective: what the training loop minimizes, apart from the loop (trainer.h) and the model
// (as ensmallen separates the optimizer from the function type). An objective turns a chunk's
// model outputs and targets into a loss, its gradient with respect to the outputs, and the
// per-class statistics every evaluation reports (ALGORITHMS.md 6.1).
#ifndef OPTBENCH_WORKER_ENGINE_OBJECTIVE_OBJECTIVE_H_
#define OPTBENCH_WORKER_ENGINE_OBJECTIVE_OBJECTIVE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "spec/component.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/run_sink.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Not thread-safe (objectives may keep scratch buffers).
class Objective {
 public:
  virtual ~Objective() = default;

  // Output rows the model produces per example: 1, or one per position of a token row.
  virtual int64_t outputs_per_example() const = 0;

  // Adds to counts[k] (num_classes entries) the number of targets of class k in `split`: what
  // the per-class statistics of that split are means over.
  virtual void CountTargets(const DataSplit& split, std::vector<int64_t>* counts) const = 0;

  // The class each output row of a chunk of r examples is scored against (r·outputs_per_example()
  // entries into *out): the row's label, or for a sequence objective each position's next token.
  virtual void Targets(const ConstMatrixRef& x, const int32_t* labels,
                       std::vector<int32_t>* out) const = 0;

  // The loss of a chunk of r examples: x (r x features) and labels (r) are the examples,
  // `outputs` (r·outputs_per_example() x classes) the model's outputs for them, overwritten with
  // grad_scale times the gradient of the summed loss with respect to them. Adds the chunk's
  // per-class statistics to `stats` unless null (precondition: Reset for the class count), and
  // the curvature an observer asked for (observer.h) to `curvature` unless null, in the same
  // pass. Returns the summed loss over the chunk's targets in float64 (non-finite outputs give a
  // non-finite sum, never a crash).
  virtual double Evaluate(const ConstMatrixRef& x, const int32_t* labels, MatrixRef outputs,
                          Real grad_scale, ClassStats* stats,
                          const CurvatureRequest* curvature) = 0;

  // The statistics of one split as the metrics this objective declares.
  virtual void Report(const ClassStats& stats, Split split, MetricBatch* out) const = 0;
};

// A registered objective: its declaration and how it is built for a data set of `num_features`
// features per row.
struct ObjectiveDef {
  spec::ComponentSpec spec;
  std::function<std::unique_ptr<Objective>(const spec::ParamMap& validated, int64_t num_features)>
      build;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OBJECTIVE_OBJECTIVE_H_
