// Observer: what the training loop reports beyond its objective, apart from the loop (as
// ensmallen's callbacks). The trainer calls each observer at fixed points of a step; an observer
// declares the metrics it emits and appends them to an evaluation's batch. The class-row head
// statistics (head_stats.h) and model diagnostics (diagnostics.h) are observers.
#ifndef OPTBENCH_WORKER_ENGINE_OBSERVER_OBSERVER_H_
#define OPTBENCH_WORKER_ENGINE_OBSERVER_OBSERVER_H_

#include <cstdint>
#include <vector>

#include "spec/metric.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/model/model.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/run_sink.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// What an observer sees at an evaluation. Pointers are valid during the call.
struct EvaluationContext {
  int64_t step = 0;  // Optimizer steps taken.
  // The scheduled step size of the step taken from these parameters (the last one's at the end).
  double learning_rate = 0;
  int64_t train_outputs = 0;  // Output rows over the whole train split (examples x positions).
  const Dataset* data = nullptr;
  Model* model = nullptr;
  const Optimizer* optimizer = nullptr;
  const std::vector<ParamSlot>* slots = nullptr;  // The model's parameters; grads are this
                                                  // step's (full batch or the mini-batch).
};

// Called from the training thread only. Observers may keep buffers (sized once at construction)
// and state that a checkpoint carries (SaveState / RestoreState).
class Observer {
 public:
  virtual ~Observer() = default;

  // Appends the metrics this observer may emit in this run (a subset of what it declares in the
  // catalog, decided by what the run has: an output head, a test split...).
  virtual void Declare(std::vector<spec::MetricSpec>* out) const = 0;

  // Around the train split's pass at an evaluation step (the gradient pass in full-batch mode, a
  // forward-only pass in mini-batch mode): Begin, then each chunk's outputs before the objective
  // overwrites them with their gradient (the model's HeadInput is that chunk's). OnTrainChunk
  // may return a request for the objective's curvature over the chunk (objective.h), which the
  // objective fills in its own pass over the outputs (at most one observer asks); the request
  // and what it points to must stay valid until the next call.
  virtual void BeginTrainPass() {}
  virtual const CurvatureRequest* OnTrainChunk(const ConstMatrixRef& /*outputs*/,
                                               const Model& /*model*/) {
    return nullptr;
  }

  // At the evaluation of `ctx.step`, after the step's gradient and every split's pass.
  virtual void Evaluate(const EvaluationContext& ctx, MetricBatch* out) = 0;

  // Before the optimizer takes step `step` + 1; `evaluated_next` when the parameters after it
  // will be evaluated.
  virtual void BeforeStep(int64_t /*step*/, bool /*evaluated_next*/) {}

  // What a checkpoint after `step` steps must carry for this observer to go on bit-identically,
  // as named tensors (keys unique among observers), and its restoration (tensors that do not fit
  // are ignored).
  virtual void SaveState(int64_t /*step*/, OptimizerState* /*state*/) const {}
  virtual void RestoreState(int64_t /*step*/, const OptimizerState& /*state*/) {}
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OBSERVER_OBSERVER_H_
