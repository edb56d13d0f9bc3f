// Shampoo with Kronecker-factored inverse fourth roots (Gupta, Koren & Singer 2018, Algorithm 1;
// ALGORITHMS.md 0.8) and paper 2's variant (kvfrans/matrix-whitening optimizers/shampoo.py;
// ALGORITHMS.md 2.4.4).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SHAMPOO_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SHAMPOO_H_

#include <cstdint>

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct ShampooOptions {
  double beta1 = 0.9;   // Momentum EMA on G.
  double beta2 = 0.99;  // Factor EMA (and Adam's second moment).
  double eps = 1e-8;    // Adam's eps (grafting, vectors, the paper's normalization).
  // Basic variant: eigenvalue floor relative to the largest, (max(l, 0) + root_eps l_max)^(-1/4).
  double root_eps = 1e-6;
  double weight_decay = 0;
  int64_t precondition_frequency = 10;
  int64_t max_precond_dim = 10000;
  bool graft_adam = true;  // Basic variant: rescale U to the Frobenius norm of Adam's update.
  bool paper_variant = false;
};

// Basic (paper_variant = false), per slot G (m x n), t the step, bc_i = 1 - beta_i^t:
//   m = b1 m + (1 - b1) G;  L = b2 L + (1 - b2) G G^T;  R = b2 R + (1 - b2) G^T G;
//   at t = 1 and every precondition_frequency-th step: P_L = (L / bc2)^(-1/4), P_R likewise, by
//   symmetric eigendecomposition with floored eigenvalues (SymmetricEigen, in float64);
//   U = P_L (m / bc1) P_R, with graft_adam rescaled to ||A||_F, A = Adam's bias-corrected update
//   (v = b2 v + (1 - b2) G^2); theta <- theta (1 - lr wd) - lr U.
//   Vector slots and sides > max_precond_dim: the update is A itself [service default].
// Paper variant (2.4.4): v = b2 v + (1 - b2) G^2, m = b1 m + (1 - b1) G,
//   M = (m / bc1) / (sqrt(v) + eps), Ghat = G / (sqrt(v) + eps),
//   U = P_L M P_R mean(sqrt(diag(R))) with R read before this step's update (so U_1 = 0);
//   L = b2 L + (1 - b2) Ghat Ghat^T / n, R = b2 R + (1 - b2) Ghat^T Ghat / m;
//   at t = 1 and every precondition_frequency-th step P = V diag(1 / (|l|^(1/4) + 1e-8)) V^T of
//   L / bc2 (likewise R); theta <- theta - lr (U + wd theta). Vector slots and matrices with a
//   side > max_precond_dim: U = M / (sqrt(v / bc2) + eps), the code's double normalization.
// State per slot: "exp_avg", "exp_avg_sq" (slot shape); "factor_left", "root_left" (m x m),
// "factor_right", "root_right" (n x n) for preconditioned matrices. Not thread-safe.
class Shampoo : public Optimizer {
 public:
  // Preconditions (checked): betas in [0, 1), eps > 0, root_eps >= 0, weight_decay >= 0,
  // precondition_frequency >= 1, max_precond_dim >= 1.
  explicit Shampoo(const ShampooOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  void UpdateSlot(const ParamSlot& slot, double lr);
  // root <- f(factor / bc2) with f the variant's inverse fourth root of the eigenvalues.
  void InverseFourthRoot(const Matrix& factor, double bc2, Matrix* root) const;

  ShampooOptions options_;
  Matrix normalized_, direction_, adam_, scratch_;
};

// The registered "shampoo".
const OptimizerDef& ShampooDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SHAMPOO_H_
