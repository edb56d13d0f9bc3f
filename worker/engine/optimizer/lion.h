// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2;
// ALGORITHMS.md 0.5; google/automl lion/lion_pytorch.py):
//   c_t = beta1 m_{t-1} + (1 - beta1) g_t,   theta <- theta - lr (sign(c_t) + lambda theta),
//   m_t = beta2 m_{t-1} + (1 - beta2) g_t,   sign(0) = 0.
// The update uses the interpolation c (beta1), the carried momentum uses beta2.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_LION_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_LION_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct LionOptions {
  double beta1 = 0.9;       // In [0, 1].
  double beta2 = 0.99;      // In [0, 1).
  double weight_decay = 0;  // lambda >= 0, decoupled.
};

// State per slot: "exp_avg" (m). Not thread-safe.
class Lion : public Optimizer {
 public:
  // Preconditions (checked): 0 <= beta1 <= 1, 0 <= beta2 < 1, weight_decay >= 0.
  explicit Lion(const LionOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  LionOptions options_;
};

// The registered "lion".
const OptimizerDef& LionDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_LION_H_
