// Class-row statistics of a model's output head (ALGORITHMS.md 6.2; paper 1's gradient-Hessian
// analysis, Kunstner et al. 2024 section 4), reported by the HeadStatsObserver: per class k, the
// norms of row k of the head's gradient and weight, the trace of the Gauss-Newton block of row k,
// (1/n) sum_i p_ik (1 - p_ik) ||h_i||^2 (h_i the head's input for output row i), |dL/db_k|, the
// last step's update of row k and the optimizer's effective step size on it.
#ifndef OPTBENCH_WORKER_ENGINE_OBSERVER_HEAD_STATS_H_
#define OPTBENCH_WORKER_ENGINE_OBSERVER_HEAD_STATS_H_

#include <vector>

#include "worker/engine/model/model.h"
#include "worker/engine/observer/observer.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Index of the first kOutputHead slot, or -1 when there is none.
int FindOutputHead(const std::vector<ParamSlot>& slots);

// ||row k of m||_2 for every row, accumulated in float64, into `norms` (resized to m.rows()).
void RowNorms(const Matrix& m, std::vector<double>* norms);

// The class-row statistics of the output head (the first kOutputHead slot, classes x h) as an
// observer. Metrics (train split, per class): head_grad_norm, head_gn_trace (when the model
// exposes HeadInput; the objective sums p_ik (1 - p_ik) ||h_i||^2 in its own pass over the outputs,
// asked through a CurvatureRequest), head_weight_norm, head_bias_grad (the bias slot whose id is
// the head weight's with "weight" replaced by "bias"), head_update_norm (||row k of W_t -
// W_{t-1}||; not at a run's first evaluation), head_eff_lr (the row mean of
// Optimizer::EffectiveStepSizes; for rules that have one, once they have state). Emits nothing for
// a model without an output head. Checkpoints carry the head before the last step (tensor
// "head"/"before").
class HeadStatsObserver : public Observer {
 public:
  // `slots`: the model's Params(). Allocates its buffers here.
  HeadStatsObserver(const std::vector<ParamSlot>& slots, int64_t num_classes);

  void Declare(std::vector<spec::MetricSpec>* out) const override;
  void BeginTrainPass() override;
  const CurvatureRequest* OnTrainChunk(const ConstMatrixRef& outputs, const Model& model) override;
  void Evaluate(const EvaluationContext& ctx, MetricBatch* out) override;
  void BeforeStep(int64_t step, bool evaluated_next) override;
  void SaveState(int64_t step, OptimizerState* state) const override;
  void RestoreState(int64_t step, const OptimizerState& state) override;

  // Every metric it may emit, for the catalog.
  static std::vector<spec::MetricSpec> Metrics();

 private:
  std::vector<ParamSlot> slots_;
  int head_ = -1;       // Index of the kOutputHead slot, or -1.
  int head_bias_ = -1;  // Index of its bias slot, or -1.
  // The head weight before the last step, kept when an evaluation follows it; its step + 1.
  Matrix head_before_, head_scratch_;
  int64_t head_before_step_ = -1;
  bool gn_trace_seen_ = false;
  std::vector<double> grad_norm_, gn_trace_, weight_norm_, bias_grad_, update_norm_, eff_lr_;
  std::vector<double> head_sq_norms_;  // ||h_i||^2 of the current chunk's output rows.
  CurvatureRequest curvature_;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OBSERVER_HEAD_STATS_H_
