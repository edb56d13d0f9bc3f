#include "worker/engine/optimizer/rmsprop.h"

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Rmsprop::Rmsprop(const RmspropOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.alpha >= 0 && options.alpha < 1);
  OPTBENCH_CHECK(options.eps > 0 && options.weight_decay >= 0);
  OPTBENCH_CHECK(options.momentum >= 0 && options.momentum < 1);
}

template <typename Grad>
void Rmsprop::UpdateSlot(const ParamSlot& slot, const Grad& g, Real step) {
  const Real alpha = static_cast<Real>(options_.alpha);
  const Real one_minus_alpha = static_cast<Real>(1.0 - options_.alpha);
  const Real eps = static_cast<Real>(options_.eps);
  Matrix& v = StateTensor(slot, "square_avg");
  v.array() = alpha * v.array() + one_minus_alpha * g.square();
  // The three variants differ only in the denominator; each is a coefficient-wise expression.
  auto apply = [&](const auto& denom) {
    if (options_.momentum > 0) {
      Matrix& b = StateTensor(slot, "momentum_buffer");
      b.array() = static_cast<Real>(options_.momentum) * b.array() + g / denom;
      *slot.value -= step * b;
    } else {
      slot.value->array() -= step * (g / denom);
    }
  };
  if (options_.centered) {
    Matrix& a = StateTensor(slot, "grad_avg");
    a.array() = alpha * a.array() + one_minus_alpha * g;
    apply((v.array() - a.array().square()).sqrt() + eps);
  } else {
    apply(v.array().sqrt() + eps);
  }
}

void Rmsprop::Update(const std::vector<ParamSlot>& slots, double lr) {
  const Real step = static_cast<Real>(lr);
  for (const ParamSlot& slot : slots) {
    if (options_.weight_decay == 0) {
      UpdateSlot(slot, slot.grad->array(), step);
    } else {
      UpdateSlot(
          slot, slot.grad->array() + static_cast<Real>(options_.weight_decay) * slot.value->array(),
          step);
    }
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
