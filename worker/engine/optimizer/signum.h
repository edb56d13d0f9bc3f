// Signum (Bernstein et al. 2018, "signSGD: Compressed Optimisation for Non-Convex Problems",
// Algorithm 3) as paper 2 implements it (ALGORITHMS.md 0.4 and 2.2; kvfrans/matrix-whitening
// optimizers/signum.py), with optional lookahead and decoupled weight decay scaled by the step:
//   m_t = beta1 m_{t-1} + (1 - beta1) g_t,   m'_t = (1 - lookahead) m_t + lookahead g_t,
//   theta <- theta - lr (sign(m'_t) + lambda theta),   sign(0) = 0.
// No bias correction: sign() is invariant to the positive factor 1 / (1 - beta1^t) when
// lookahead = 0.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_SIGNUM_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_SIGNUM_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct SignumOptions {
  double beta1 = 0.9;       // In [0, 1).
  double lookahead = 0;     // In [0, 1].
  double weight_decay = 0;  // lambda >= 0, decoupled.
};

// State per slot: "exp_avg" (m). Not thread-safe.
class Signum : public Optimizer {
 public:
  // Preconditions (checked): 0 <= beta1 < 1, 0 <= lookahead <= 1, weight_decay >= 0.
  explicit Signum(const SignumOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  SignumOptions options_;
};

// The registered "signum".
const OptimizerDef& SignumDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_SIGNUM_H_
