#include "worker/engine/optimizer/gd.h"

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

GradientDescent::GradientDescent(const GradientDescentOptions& options)
    : HeavyBallOptimizer(options.momentum), options_(options) {
  OPTBENCH_CHECK(!options.nesterov || options.momentum > 0);
  OPTBENCH_CHECK(options.weight_decay >= 0);
}

void GradientDescent::Update(const std::vector<ParamSlot>& slots, double lr) {
  if (!options_.nesterov) {
    for (const ParamSlot& slot : slots) {
      if (options_.weight_decay == 0) {
        Apply(slot, *slot.grad, lr);
      } else {
        // The decayed gradient is read in full before Apply writes theta (the buffer or the
        // update is evaluated first), so theta in it is the value before the step.
        Apply(slot, *slot.grad + static_cast<Real>(options_.weight_decay) * *slot.value, lr);
      }
    }
    return;
  }
  const Real step = static_cast<Real>(lr);
  const Real mu = static_cast<Real>(options_.momentum);
  const Real lambda = static_cast<Real>(options_.weight_decay);
  for (const ParamSlot& slot : slots) {
    bool first = false;
    Matrix& buffer = StateTensor(slot, "momentum_buffer", &first);
    // torch.optim.SGD: d = g + lambda theta; b = mu b + d (b = d at step 1); theta -= lr (d + mu
    // b).
    const auto d = slot.grad->array() + lambda * slot.value->array();
    if (first) {
      buffer.array() = d;
    } else {
      buffer.array() = mu * buffer.array() + d;
    }
    slot.value->array() -= step * (d + mu * buffer.array());
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
