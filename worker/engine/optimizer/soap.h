// SOAP: Adam run in the eigenbasis of Shampoo's Kronecker factors (Vyas et al. 2024,
// nikhilvyas/SOAP soap.py; ALGORITHMS.md 0.9) and paper 2's variant (kvfrans/matrix-whitening
// optimizers/soap.py; ALGORITHMS.md 2.4.5).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SOAP_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SOAP_H_

#include <cstdint>

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct SoapOptions {
  double beta1 = 0.95;
  double beta2 = 0.95;
  double shampoo_beta = -1;  // Factor decay; < 0 means beta2.
  double eps = 1e-8;
  double weight_decay = 0.01;
  int64_t precondition_frequency = 10;
  int64_t max_precond_dim = 10000;
  bool normalize_grads = false;  // Reference only: divide the update by its RMS.
  bool correct_bias = true;      // Reference only (the paper variant always corrects).
  bool paper_variant = false;
};

// Reference (paper_variant = false), per slot G (m x n), with t the optimizer step and k = t - 1:
//   t = 1: L = (1 - bs) G G^T, R = (1 - bs) G^T G, Q_L, Q_R = eigenvectors (descending); no update.
//   t > 1: G' = Q_L^T G Q_R; m = b1 m + (1 - b1) G'; v = b2 v + (1 - b2) G'^2;
//          theta -= lr sqrt(1 - b2^k) / (1 - b1^k) Q_L (m / (sqrt(v) + eps)) Q_R^T;
//          theta -= lr wd theta; then L, R accumulate G; every precondition_frequency-th k the
//          basis is refreshed by one power iteration + QR (columns sorted by estimated eigenvalue,
//          v permuted to match, m carried over through the original basis).
//   A side longer than max_precond_dim, and both sides of a vector slot (role kVector, the
//   reference's precondition_1d = False), use the identity: vectors get Adam with the skipped
//   first step, exactly as the reference.
// Paper variant: m in the original basis, rotated each step; v in the rotated basis, never
//   re-rotated; both bias-corrected; factors with b2; a full eigendecomposition (ascending, as
//   jnp.linalg.eigh) after steps 1 and every precondition_frequency-th; a side of length
//   >= max_precond_dim is not rotated; the first update and the moments of step 1 are zeroed;
//   theta -= lr (U + wd theta) at every step. Vectors: the same rule without rotation.
// State per slot: "exp_avg", "exp_avg_sq" (slot shape), and per rotated side "factor_left" /
// "basis_left" (m x m), "factor_right" / "basis_right" (n x n). Not thread-safe.
class Soap : public Optimizer {
 public:
  // Preconditions (checked): betas in [0, 1), shampoo_beta < 1, eps > 0, weight_decay >= 0,
  // precondition_frequency >= 1, max_precond_dim >= 1.
  explicit Soap(const SoapOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  void UpdateReference(const ParamSlot& slot, double lr);
  void UpdatePaper(const ParamSlot& slot, double lr);

  SoapOptions options_;
  Matrix rotated_, direction_, scratch_;
};

// The registered "soap".
const OptimizerDef& SoapDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SOAP_H_
