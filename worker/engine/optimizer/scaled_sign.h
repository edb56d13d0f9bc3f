// Paper 1's rescaled sign descent (ALGORITHMS.md 0.3, "ScaledSign", appendix of Kunstner et al.
// 2024, arXiv 2402.19449; fKunstner/class-imbalance-sgd-adam optimizers/normalized_opts.py): the
// direction u_t = sign(g_t) ||g_t||_1, with sign(0) = 0 and the l1 norm over all parameters
// concatenated, is fed to heavy-ball momentum b_1 = u_1, b_t = mu b_{t-1} + u_t,
// theta <- theta - lr b_t.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SCALED_SIGN_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SCALED_SIGN_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The l1 norm is accumulated in float64. State per slot: "momentum_buffer" (only when
// momentum > 0). Not thread-safe.
class ScaledSignDescent : public HeavyBallOptimizer {
 public:
  // Precondition (checked): 0 <= momentum < 1.
  explicit ScaledSignDescent(double momentum) : HeavyBallOptimizer(momentum) {}

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;
};

// The registered "scaled_sign".
const OptimizerDef& ScaledSignDescentDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SCALED_SIGN_H_
