// The cross-entropy objectives: softmax cross-entropy of one label per example (the engine's
// classification objective), and its sequence form over every position of a token row (paper 1's
// language model, ALGORITHMS.md 1.2-1.3: next-token prediction at each position of a context).
#ifndef OPTBENCH_WORKER_ENGINE_OBJECTIVE_CROSS_ENTROPY_H_
#define OPTBENCH_WORKER_ENGINE_OBJECTIVE_CROSS_ENTROPY_H_

#include <cstdint>
#include <vector>

#include "worker/engine/objective/objective.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Softmax cross-entropy (loss/softmax_cross_entropy.h) of each example's label: one output row
// per example. Reports, per split, the per-class sums loss_sum, correct, p_true_sum, p_mass and
// the split's mean loss and accuracy.
class CrossEntropy : public Objective {
 public:
  int64_t outputs_per_example() const override { return 1; }
  void CountTargets(const DataSplit& split, std::vector<int64_t>* counts) const override;
  void Targets(const ConstMatrixRef& x, const int32_t* labels,
               std::vector<int32_t>* out) const override;
  double Evaluate(const ConstMatrixRef& x, const int32_t* labels, MatrixRef outputs,
                  Real grad_scale, ClassStats* stats, const CurvatureRequest* curvature) override;
  void Report(const ClassStats& stats, Split split, MetricBatch* out) const override;
};

// Softmax cross-entropy at every position of a row of T token ids x_0..x_{T-1} whose label y is
// the token after them: the model outputs T rows per example (row t predicts the token after
// position t), and the targets are x_1, ..., x_{T-1}, y. Per-class statistics cover every target
// token; the loss is the mean over all n·T targets. Needs a data set of token rows and a model
// that outputs every position (capabilities "token_ids", "positions"). Precondition of
// Evaluate: x holds exact integer token ids in [0, classes).
class SequenceCrossEntropy : public CrossEntropy {
 public:
  explicit SequenceCrossEntropy(int64_t context) : context_(context) {}
  int64_t outputs_per_example() const override { return context_; }
  void CountTargets(const DataSplit& split, std::vector<int64_t>* counts) const override;
  void Targets(const ConstMatrixRef& x, const int32_t* labels,
               std::vector<int32_t>* out) const override;
  double Evaluate(const ConstMatrixRef& x, const int32_t* labels, MatrixRef outputs,
                  Real grad_scale, ClassStats* stats, const CurvatureRequest* curvature) override;

 private:
  int64_t context_;
  std::vector<int32_t> targets_;  // Scratch: the chunk's r·T targets.
};

const ObjectiveDef& CrossEntropyDefinition();
const ObjectiveDef& SequenceCrossEntropyDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OBJECTIVE_CROSS_ENTROPY_H_
