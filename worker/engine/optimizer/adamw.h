// AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2;
// ALGORITHMS.md 0.2; arithmetic as torch.optim.AdamW 1.13): Adam (adam.h) whose weight decay is
// decoupled from the gradient and scaled by the step size,
//   theta <- theta (1 - lr lambda),   then the Adam step on the raw gradient.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAMW_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAMW_H_

#include "worker/engine/optimizer/adam.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Adam with options.decoupled_weight_decay forced on. State as Adam. Not thread-safe.
class AdamW : public Adam {
 public:
  // Preconditions as Adam.
  explicit AdamW(AdamOptions options) : Adam(Decoupled(options)) {}

 private:
  static AdamOptions Decoupled(AdamOptions options) {
    options.decoupled_weight_decay = true;
    return options;
  }
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAMW_H_
