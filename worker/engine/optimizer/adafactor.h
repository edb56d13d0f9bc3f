// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
// Cost", arXiv 1804.04235, Algorithm 4 for matrices and Algorithm 5 for vectors, with relative
// step sizes (section 8), update clipping (section 6) and the increasing decay (section 7);
// ALGORITHMS.md 0.6). We follow the paper, not torch.optim.Adafactor (which adds eps1 = machine
// epsilon as a clamp instead of to G^2 and has no first moment). The optional first moment is
// taken of the scaled, clipped update, as in the authors' tensor2tensor code (and its port in
// Hugging Face transformers' Adafactor, whose defaults these are). Per slot, at step t:
//   beta2_t = 1 - t^decay_rate,   rho_t = min(lr, 1/sqrt(t)) (relative_step) or lr,
//   alpha_t = max(eps2, RMS(theta_{t-1})) rho_t (scale_parameter) or rho_t,
//   rows >= 2 and cols >= 2 (factored):
//     R = beta2_t R + (1 - beta2_t) rowmean(G^2 + eps1)        (rows x 1)
//     C = beta2_t C + (1 - beta2_t) colmean(G^2 + eps1)        (1 x cols)
//     V = R C / mean(R)
//   otherwise (vectors, n x 1 or 1 x n): V = beta2_t V + (1 - beta2_t) (G^2 + eps1)
//   U = G / sqrt(V),   U_hat = U / max(1, RMS(U) / clip_threshold),
//   beta1 = 0: theta <- theta - alpha_t U_hat;
//   beta1 > 0: m = beta1 m + (1 - beta1) alpha_t U_hat, theta <- theta - m.
// RMS(x) = sqrt(mean(x^2)) over the slot. rowmean(.)/mean(R) equals the paper's row sums over
// 1^T R.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAFACTOR_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAFACTOR_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct AdafactorOptions {
  double eps1 = 1e-30;          // Added to G^2, > 0.
  double eps2 = 1e-3;           // Floor of the parameter scale, > 0.
  double clip_threshold = 1.0;  // d, > 0.
  double decay_rate = -0.8;     // c in beta2_t = 1 - t^c, < 0.
  double beta1 = 0;             // First-moment decay in [0, 1); 0 = none.
  bool relative_step = true;
  bool scale_parameter = true;
};

// State per slot: factored slots keep "exp_avg_sq_row" (rows x 1) and "exp_avg_sq_col"
// (1 x cols), others "exp_avg_sq" (slot shape); "exp_avg" (slot shape) when beta1 > 0.
// Not thread-safe.
class Adafactor : public Optimizer {
 public:
  // Preconditions (checked): eps1, eps2, clip_threshold > 0; decay_rate < 0; 0 <= beta1 < 1.
  explicit Adafactor(const AdafactorOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  // State tensor `name` of `slot` with its own shape rows x cols (zeros when created).
  Matrix& FactorState(const ParamSlot& slot, const char* name, Eigen::Index rows,
                      Eigen::Index cols);
  // Applies alpha * U / max(1, RMS(U) / d) for the coefficient-wise expression U.
  template <typename Direction>
  void ApplyClipped(const ParamSlot& slot, const Direction& u, double alpha);

  AdafactorOptions options_;
};

// The registered "adafactor".
const OptimizerDef& AdafactorDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAFACTOR_H_
