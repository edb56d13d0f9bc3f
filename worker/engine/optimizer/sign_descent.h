// Paper 1's sign descent (ALGORITHMS.md 0.3; Kunstner et al. 2024, arXiv 2402.19449, and
// fKunstner/class-imbalance-sgd-adam optimizers/normalized_opts.py, Sign_NM / Sign_M): the
// direction u_t = sign(g_t) per coordinate, with sign(0) = 0, is fed to heavy-ball momentum
// b_1 = u_1, b_t = mu b_{t-1} + u_t, theta <- theta - lr b_t. It accumulates signs; it is not
// Signum (sign of the momentum).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SIGN_DESCENT_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SIGN_DESCENT_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// State per slot: "momentum_buffer" (only when momentum > 0). Not thread-safe.
class SignDescent : public HeavyBallOptimizer {
 public:
  // Precondition: 0 <= momentum < 1.
  explicit SignDescent(double momentum) : HeavyBallOptimizer(momentum) {}

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;
};

// The registered "sign_descent".
const OptimizerDef& SignDescentDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SIGN_DESCENT_H_
