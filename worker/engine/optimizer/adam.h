// Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1; ALGORITHMS.md
// 0.2; arithmetic as torch.optim.Adam 1.13, which paper 1 uses via
// fKunstner/class-imbalance-sgd-adam optimizers/Adam.py):
//   g_t <- g_t + lambda theta        (coupled L2 weight decay, torch.optim.Adam's weight_decay)
//   m_t = beta1 m_{t-1} + (1 - beta1) g_t,      v_t = beta2 v_{t-1} + (1 - beta2) g_t^2,
//   theta <- theta - (lr / bc1) m_t / (sqrt(v_t) / sqrt(bc2) + eps),
// with bc1 = 1 - beta1^t and bc2 = 1 - beta2^t (both 1 without bias correction). This equals
// theta - lr m_hat / (sqrt(v_hat) + eps); eps is outside the square root. beta1 = 0 is "Adam
// without momentum" (RMSProp with bias correction). AMSGrad (Reddi et al. 2018, as torch) divides
// by the running maximum of v_t instead of v_t. The decoupled form (AdamW, adamw.h) replaces the
// L2 term by theta <- theta (1 - lr lambda) before the step (Loshchilov & Hutter 2019).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAM_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAM_H_

#include <string_view>

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Adam's per-coordinate step size lr / (sqrt(v / bc2) + eps) from the tensor `second_moment` of
// `id` in `state`, bc2 = 1 - beta2^state.step (1 without bias correction). False when there is
// no such tensor or no step yet. Shared by Adam and paper 2's auxiliary Adam.
bool AdamEffectiveStepSizes(const OptimizerState& state, std::string_view id,
                            std::string_view second_moment, double beta2, bool bias_correction,
                            double eps, double lr, Matrix* out);

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool bias_correction = true;
  double weight_decay = 0;              // lambda >= 0.
  bool decoupled_weight_decay = false;  // false: L2 added to g (Adam); true: AdamW.
  bool amsgrad = false;
};

// State per slot: "exp_avg" (m; not kept when beta1 = 0, where m_t = g_t), "exp_avg_sq" (v) and,
// with AMSGrad, "max_exp_avg_sq". Not thread-safe.
class Adam : public Optimizer {
 public:
  // Preconditions (checked): 0 <= beta1 < 1, 0 <= beta2 < 1, eps > 0, weight_decay >= 0.
  explicit Adam(const AdamOptions& options);

  // lr / (sqrt(v_t / bc2) + eps) with v_t the second moment after state.step steps (its running
  // maximum with AMSGrad): the factor the next update applies to the bias-corrected momentum.
  bool EffectiveStepSizesFrom(const OptimizerState& state, const ParamSlot& slot, double lr,
                              Matrix* out) const override;

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  // The step for one slot from its (possibly decayed) gradient expression `g`.
  template <typename Grad>
  void UpdateSlot(const ParamSlot& slot, const Grad& g, Real step_size, Real bc2_sqrt);

  AdamOptions options_;
};

// The registered "adam" and "adamw" (adamw.h).
const OptimizerDef& AdamDefinition();
const OptimizerDef& AdamWDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAM_H_
