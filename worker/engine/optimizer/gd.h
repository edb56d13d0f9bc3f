// Gradient descent with heavy-ball or Nesterov momentum and coupled L2 weight decay, exactly
// torch.optim.SGD without dampening (ALGORITHMS.md 0.1; Polyak 1964; Sutskever et al. 2013 for
// the Nesterov form; paper 1 uses it via fKunstner/class-imbalance-sgd-adam optimizers/SGD.py):
//   d_t = g_t + lambda theta,  b_1 = d_1,  b_t = mu b_{t-1} + d_t,
//   theta <- theta - lr (d_t + mu b_t)   with Nesterov,   theta <- theta - lr b_t   without.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_GD_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_GD_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct GradientDescentOptions {
  double momentum = 0;      // mu, in [0, 1).
  bool nesterov = false;    // Requires momentum > 0 (as torch.optim.SGD).
  double weight_decay = 0;  // lambda >= 0: L2 added to the gradient (coupled, PyTorch SGD).
};

// State per slot: "momentum_buffer" (only when momentum > 0). Not thread-safe.
class GradientDescent : public HeavyBallOptimizer {
 public:
  // Precondition (checked): 0 <= momentum < 1.
  explicit GradientDescent(double momentum) : GradientDescent(GradientDescentOptions{momentum}) {}
  // Preconditions (checked): 0 <= momentum < 1; nesterov only with momentum > 0;
  // weight_decay >= 0.
  explicit GradientDescent(const GradientDescentOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  GradientDescentOptions options_;
};

// The registered "gd" and its alias "sgd".
const OptimizerDef& GradientDescentDefinition();
const OptimizerDef& SgdDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_GD_H_
