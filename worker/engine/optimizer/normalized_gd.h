// Paper 1's normalized gradient descent (ALGORITHMS.md 0.3; Kunstner et al. 2024, arXiv
// 2402.19449, and fKunstner/class-imbalance-sgd-adam optimizers/normalized_opts.py, NormSGD_NM /
// NormSGD_M): u_t = g_t / ||g_t||_2 with the norm over all parameters concatenated, fed to
// heavy-ball momentum b_1 = u_1, b_t = mu b_{t-1} + u_t, theta <- theta - lr b_t.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_NORMALIZED_GD_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_NORMALIZED_GD_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// A zero gradient (norm 0) gives u_t = 0: no step without momentum, and only the decayed
// momentum b_t = mu b_{t-1} with it. The norm is accumulated in float64.
// State per slot: "momentum_buffer" (only when momentum > 0). Not thread-safe.
class NormalizedGradientDescent : public HeavyBallOptimizer {
 public:
  // Precondition: 0 <= momentum < 1.
  explicit NormalizedGradientDescent(double momentum) : HeavyBallOptimizer(momentum) {}

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;
};

// The registered "normalized_gd".
const OptimizerDef& NormalizedGradientDescentDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_NORMALIZED_GD_H_
