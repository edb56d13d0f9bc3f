// Softmax cross-entropy with per-class statistics in one pass (ALGORITHMS.md 6.1): the loss,
// its gradient with respect to the logits, and the per-class sums that every evaluation reports.
#ifndef OPTBENCH_WORKER_ENGINE_LOSS_SOFTMAX_CROSS_ENTROPY_H_
#define OPTBENCH_WORKER_ENGINE_LOSS_SOFTMAX_CROSS_ENTROPY_H_

#include <cstdint>
#include <numeric>
#include <vector>

#include "worker/engine/tensor.h"

namespace optbench::engine {

// Per-class sums over the examples of one split (ALGORITHMS.md 6.1), always float64, so that any
// grouping of classes can be computed exactly later. All vectors have length num_classes.
struct ClassStats {
  std::vector<int64_t> count;      // Examples with label k.
  std::vector<double> loss_sum;    // Sum of cross-entropy over examples with label k.
  std::vector<int64_t> correct;    // Examples with label k whose argmax (lowest index on ties)
                                   // is k.
  std::vector<double> p_true_sum;  // Sum of softmax probability of the true class, label k.
  std::vector<double> p_mass;      // Sum over all examples of the probability of class k.

  // Sets every sum to zero for `num_classes` classes (no allocation when the size is unchanged).
  void Reset(int64_t num_classes) {
    const size_t c = static_cast<size_t>(num_classes);
    count.assign(c, 0);
    loss_sum.assign(c, 0.0);
    correct.assign(c, 0);
    p_true_sum.assign(c, 0.0);
    p_mass.assign(c, 0.0);
  }
  int64_t TotalCount() const { return std::accumulate(count.begin(), count.end(), int64_t{0}); }
  double TotalLoss() const { return std::accumulate(loss_sum.begin(), loss_sum.end(), 0.0); }
  int64_t TotalCorrect() const {
    return std::accumulate(correct.begin(), correct.end(), int64_t{0});
  }
};

// A request for what only the loss's own pass has at hand: the sum over a chunk's output rows i
// of w_i times the diagonal of the loss's Hessian with respect to row i's outputs (softmax
// cross-entropy: p_ik (1 - p_ik)), added to sums[k]. With w_i = ||h_i||^2, h_i the output layer's
// input, sums[k] / n is the trace of the Gauss-Newton block of class row k (ALGORITHMS.md 6.2).
struct CurvatureRequest {
  const double* row_weights = nullptr;  // One per output row of the chunk.
  double* sums = nullptr;               // One per class.
};

inline namespace OPTBENCH_ENGINE_PRECISION {

// For each row i of `logits` (r x c) with label y_i = labels[i] in [0, c):
//   loss_i = logsumexp(z_i) - z_iy, computed stably as log(sum_j exp(z_ij - max_j z_ij)) -
//   (z_iy - max_j z_ij), the sum and the logarithm in float64;
// overwrites row i with grad_scale * (softmax(z_i) - e_{y_i}), the gradient of
// grad_scale * sum_i loss_i (grad_scale = 1/N gives the gradient of the mean over N examples);
// adds the row's statistics to `stats` when it is not null (precondition: stats was Reset for c
// classes), and its curvature to `curvature` when it is not null. Returns sum_i loss_i in
// float64. Non-finite logits give a non-finite loss (NaN or inf), never a crash; the caller
// detects divergence from the returned sum.
// Cost: one fused pass over each row while it is in cache, O(r c), vectorized (the exponentials
// in Real, the sums in float64, no per-element libm call); no allocation.
double SoftmaxCrossEntropy(MatrixRef logits, const int32_t* labels, Real grad_scale,
                           ClassStats* stats, const CurvatureRequest* curvature = nullptr);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_LOSS_SOFTMAX_CROSS_ENTROPY_H_
