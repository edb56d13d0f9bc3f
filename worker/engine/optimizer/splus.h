// SPlus: sign descent in the eigenbasis of Shampoo's factors, as paper 2 implements it
// (Frans et al. 2025, kvfrans/matrix-whitening optimizers/splus.py; ALGORITHMS.md 2.4.6).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SPLUS_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SPLUS_H_

#include <cstdint>

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct SplusOptions {
  double beta1 = 0.99;   // Momentum EMA.
  double beta2 = 0.968;  // Factor EMA.
  double lookahead = 0;  // lambda: m' = (1 - lambda) m + lambda G.
  double eps = 1e-30;    // Added to the factors' diagonal before eigh.
  double weight_decay = 0.01;
  int64_t precondition_frequency = 10;
  int64_t max_precond_dim = 10000;
};

// Per matrix slot G (m x n), t the step; Q_L, Q_R start as identities:
//   m = b1 m + (1 - b1) G;  m' = (1 - lambda) m + lambda G;
//   U = Q_L sign(Q_L^T m' Q_R / (1 - b1^t)) Q_R^T * 2 / (m + n)   (sign(0) = 0);
//   L = b2 L + (1 - b2) G G^T, R likewise;  theta <- theta - lr (U + wd theta);
//   after step 1 and every precondition_frequency-th step Q = eigenvectors of L + eps I
//   (ascending, as jnp.linalg.eigh). A side of length >= max_precond_dim is not rotated.
// Vector slots (role kVector): the code's shape scaling refuses non-matrices; here they get
// U = sign(m' / (1 - b1^t)) without rotation or shape scaling (Signum with SPlus's momentum)
// [service default]. State per slot: "exp_avg" (slot shape); "factor_left", "basis_left"
// (m x m), "factor_right", "basis_right" (n x n). Not thread-safe.
class Splus : public Optimizer {
 public:
  // Preconditions (checked): betas in [0, 1), lookahead in [0, 1], eps >= 0, weight_decay >= 0,
  // precondition_frequency >= 1, max_precond_dim >= 1.
  explicit Splus(const SplusOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  SplusOptions options_;
  Matrix lookahead_, rotated_, direction_, scratch_;
};

// The registered "splus".
const OptimizerDef& SplusDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SPLUS_H_
