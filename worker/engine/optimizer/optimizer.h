// Optimizer: the update-rule interface (the loop lives in trainer.h). An optimizer sees only
// parameter slots, their gradients and a step size; its state is a generic map of tensors keyed
// by slot id, so checkpoints can serialize any optimizer the same way.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_OPTIMIZER_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_OPTIMIZER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "worker/engine/param_slot.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Everything an optimizer carries between steps: the number of steps taken and named tensors
// per slot id ("weight" -> {"exp_avg": ..., "exp_avg_sq": ...}). Tensors have the slot's shape
// or, for factored statistics, their own (Shampoo/SOAP factors are rows x rows and cols x cols;
// Adafactor keeps row and column vectors). Restoring a checkpoint = assigning a saved
// OptimizerState (state_io.h serializes any shape).
struct OptimizerState {
  int64_t step = 0;
  std::map<std::string, std::map<std::string, Matrix, std::less<>>, std::less<>> tensors;
};

// Base class of all optimizers. Not thread-safe.
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Updates every slot's value in place from its grad with step size `lr` (> 0), as one step t
  // (t = state().step after the call, starting at 1). All slots come at once because some rules
  // couple them (normalized_gd divides by the norm over all slots). Preconditions: the same ids
  // with the same shapes at every call; finite gradients (the trainer checks).
  // No allocation after the first step.
  void Step(const std::vector<ParamSlot>& slots, double lr) {
    ++state_.step;
    Update(slots, lr);
  }

  const OptimizerState& state() const { return state_; }
  OptimizerState* mutable_state() { return &state_; }

  // For optimizers with a per-coordinate step size (Adam's lr / (sqrt(v_hat) + eps)): writes the
  // step size each coordinate of `slot` would get from the current state at step size `lr` into
  // `out` (the slot's shape) and returns true. False when the rule has none, or no state for the
  // slot yet (before the first step). The class-row statistic eff_lr (ALGORITHMS.md 6.2).
  bool EffectiveStepSizes(const ParamSlot& slot, double lr, Matrix* out) const {
    return EffectiveStepSizesFrom(state_, slot, lr, out);
  }
  // The same from `state` (this rule's layout; a parameter-group optimizer passes its own).
  virtual bool EffectiveStepSizesFrom(const OptimizerState& /*state*/, const ParamSlot& /*slot*/,
                                      double /*lr*/, Matrix* /*out*/) const {
    return false;
  }

 protected:
  // Applies step state().step.
  virtual void Update(const std::vector<ParamSlot>& slots, double lr) = 0;

  // State tensor `name` of `slot`, created as zeros of the slot's shape on first use, in which
  // case *created (if not null) is set to true.
  Matrix& StateTensor(const ParamSlot& slot, std::string_view name, bool* created = nullptr);

 private:
  OptimizerState state_;
};

// Base of paper 1's heavy-ball family (gd, sign_descent, normalized_gd; ALGORITHMS.md 0 and
// 0.3): a subclass computes a direction u_t per slot and Apply feeds it to heavy-ball momentum in
// the PyTorch convention (torch.optim.SGD without dampening or Nesterov):
//   b_1 = u_1,  b_t = mu b_{t-1} + u_t,  theta <- theta - lr b_t.
// With mu = 0 no buffer is kept (theta <- theta - lr u_t); otherwise the slot's state holds
// "momentum_buffer". Not thread-safe.
class HeavyBallOptimizer : public Optimizer {
 protected:
  // Precondition (checked): 0 <= momentum < 1.
  explicit HeavyBallOptimizer(double momentum);

  // One heavy-ball update of `slot` from `u`, any coefficient-wise Eigen expression of the slot's
  // shape (evaluated once and fused into the update, no temporary).
  template <typename Direction>
  void Apply(const ParamSlot& slot, const Eigen::MatrixBase<Direction>& u, double lr) {
    const Real step = static_cast<Real>(lr);
    if (momentum_ == 0) {
      *slot.value -= step * u;
      return;
    }
    bool first = false;
    Matrix& buffer = StateTensor(slot, "momentum_buffer", &first);
    if (first) {
      buffer = u;
    } else {
      buffer = static_cast<Real>(momentum_) * buffer + u;
    }
    *slot.value -= step * buffer;
  }

 private:
  double momentum_;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_OPTIMIZER_H_
