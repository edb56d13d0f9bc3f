// Adagrad (Duchi, Hazan & Singer 2011, diagonal form; arithmetic as torch.optim.Adagrad 1.13):
//   g_t <- g_t + lambda theta,   s_t = s_{t-1} + g_t^2   (s_0 = initial_accumulator_value),
//   theta <- theta - lr_t g_t / (sqrt(s_t) + eps),   lr_t = lr / (1 + (t - 1) lr_decay).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAGRAD_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAGRAD_H_

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct AdagradOptions {
  double lr_decay = 0;                   // >= 0.
  double weight_decay = 0;               // lambda >= 0, coupled (added to the gradient).
  double initial_accumulator_value = 0;  // >= 0.
  double eps = 1e-10;                    // > 0, outside the square root.
};

// State per slot: "sum" (s). Not thread-safe.
class Adagrad : public Optimizer {
 public:
  // Preconditions (checked): lr_decay, weight_decay, initial_accumulator_value >= 0; eps > 0.
  explicit Adagrad(const AdagradOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  AdagradOptions options_;
};

// The registered "adagrad".
const OptimizerDef& AdagradDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAGRAD_H_
