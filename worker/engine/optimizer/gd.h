// Gradient descent with heavy-ball momentum (ALGORITHMS.md 0.1; Polyak 1964, in the PyTorch
// convention of torch.optim.SGD as used by paper 1, fKunstner/class-imbalance-sgd-adam
// optimizers/SGD.py): b_1 = g_1, b_t = mu b_{t-1} + g_t, theta <- theta - lr b_t.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_GD_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_GD_H_

#include "worker/engine/optimizer/optimizer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// State per slot: "momentum_buffer" (only when momentum > 0). Not thread-safe.
class GradientDescent : public HeavyBallOptimizer {
 public:
  // Precondition: 0 <= momentum < 1.
  explicit GradientDescent(double momentum) : HeavyBallOptimizer(momentum) {}

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_GD_H_
