// SPA: sign in the eigenbasis of Shampoo's factors, rotated back, then Adam-style variance
// normalization in the original basis; paper 2's didactic method (kvfrans/matrix-whitening
// optimizers/spa.py; ALGORITHMS.md 2.4.8).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SPA_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SPA_H_

#include <cstdint>

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct SpaOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-16;  // Added to sqrt(v_hat).
  double weight_decay = 0;
  int64_t precondition_frequency = 10;
  int64_t max_precond_dim = 10000;
};

// Per slot G (m x n), t the step; Q_L, Q_R start as identities:
//   m = b1 m + (1 - b1) G;  S = Q_L sign(Q_L^T m Q_R) Q_R^T;  v = b2 v + (1 - b2) S^2;
//   U = S / (sqrt(v / (1 - b2^t)) + eps);  L = b2 L + (1 - b2) G G^T, R likewise;
//   at t = 1 the update, m and v are zeroed; theta <- theta - lr (U + wd theta);
//   after step 1 and every precondition_frequency-th step Q = eigenvectors of L + 1e-30 I
//   (ascending). A side of length >= max_precond_dim is not rotated. Vector slots (role kVector)
//   are not rotated, exactly as the code: U = sign(m) / (sqrt(v_hat) + eps) with v of sign(m)^2.
// State per slot: "exp_avg", "exp_avg_sq" (slot shape); "factor_left", "basis_left" (m x m),
// "factor_right", "basis_right" (n x n). Not thread-safe.
class Spa : public Optimizer {
 public:
  // Preconditions (checked): betas in [0, 1), eps > 0, weight_decay >= 0,
  // precondition_frequency >= 1, max_precond_dim >= 1.
  explicit Spa(const SpaOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  SpaOptions options_;
  Matrix rotated_, signs_, scratch_;
};

// The registered "spa".
const OptimizerDef& SpaDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SPA_H_
