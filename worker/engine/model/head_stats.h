// Class-row statistics of a model's output head (ALGORITHMS.md 6.2; paper 1's gradient-Hessian
// analysis, Kunstner et al. 2024 section 4): per class k, the norms of row k of the head's
// gradient and weight, and the trace of the Gauss-Newton block of row k,
// (1/n) sum_i p_ik (1 - p_ik) ||h_i||^2, h_i the head's input for example i.
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_HEAD_STATS_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_HEAD_STATS_H_

#include <vector>

#include "worker/engine/model/model.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Index of the first kOutputHead slot, or -1 when there is none.
int FindOutputHead(const std::vector<ParamSlot>& slots);

// ||row k of m||_2 for every row, accumulated in float64, into `norms` (resized to m.rows()).
void RowNorms(const Matrix& m, std::vector<double>* norms);

// Adds sum_i p_ik (1 - p_ik) ||h_i||^2 over the chunk to trace[k], p_i = softmax(logits row i),
// computed in float64. logits: r x c (before the loss overwrites them); head_input: r x h;
// trace: c entries. Non-finite logits give non-finite sums (the caller detects divergence
// elsewhere). O(r (c + h)); `row` is scratch (resized to c; no allocation once it has c).
void AddGaussNewtonTrace(const ConstMatrixRef& logits, const ConstMatrixRef& head_input,
                         double* trace, std::vector<double>* row);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_HEAD_STATS_H_
