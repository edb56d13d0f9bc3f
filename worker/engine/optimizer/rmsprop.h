// RMSprop (Tieleman & Hinton 2012, lecture 6e; centered form Graves 2013, eq. 38-45; arithmetic
// as torch.optim.RMSprop 1.13):
//   g_t <- g_t + lambda theta,   v_t = alpha v_{t-1} + (1 - alpha) g_t^2,
//   centered: a_t = alpha a_{t-1} + (1 - alpha) g_t,  d_t = sqrt(v_t - a_t^2) + eps,
//   otherwise d_t = sqrt(v_t) + eps;
//   momentum mu > 0: b_t = mu b_{t-1} + g_t / d_t (b_0 = 0), theta <- theta - lr b_t;
//   otherwise theta <- theta - lr g_t / d_t.
// No bias correction (v_0 = 0): the first steps are large, as in PyTorch.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_RMSPROP_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_RMSPROP_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct RmspropOptions {
  double alpha = 0.99;      // Smoothing constant, in [0, 1).
  double eps = 1e-8;        // > 0, outside the square root.
  double weight_decay = 0;  // lambda >= 0, coupled (added to the gradient).
  double momentum = 0;      // mu in [0, 1).
  bool centered = false;    // Divide by the estimated standard deviation instead of the RMS.
};

// State per slot: "square_avg" (v), "grad_avg" (a, centered only), "momentum_buffer" (b,
// momentum > 0 only). Not thread-safe.
class Rmsprop : public Optimizer {
 public:
  // Preconditions (checked): 0 <= alpha < 1, eps > 0, weight_decay >= 0, 0 <= momentum < 1.
  explicit Rmsprop(const RmspropOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  template <typename Grad>
  void UpdateSlot(const ParamSlot& slot, const Grad& g, Real step);

  RmspropOptions options_;
};

// The registered "rmsprop".
const OptimizerDef& RmspropDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_RMSPROP_H_
