#include "worker/engine/optimizer/rmsprop.h"

#include <memory>
#include <string>
#include <utility>

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

const OptimizerDef& RmspropDefinition() {
  using O = RmspropOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "rmsprop", "RMSprop (Tieleman & Hinton 2012; centered: Graves 2013), as torch.optim.RMSprop",
      1e-2,
      spec::Binding<O>(
          {spec::Bind(&O::alpha, "alpha", spec::HalfOpen(0, 1),
                      "smoothing constant of v = alpha v + (1-alpha) g^2"),
           spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1), "added to sqrt(v)"),
           WeightDecayField(&O::weight_decay, kCoupledDecayDoc),
           spec::Bind(&O::momentum, "momentum", spec::HalfOpen(0, 1),
                      "momentum of b = mu b + g / (sqrt(v) + eps)"),
           spec::Bind(&O::centered, "centered", "divide by sqrt(v - mean(g)^2) (Graves 2013)")}),
      [](const O& o) { return std::make_unique<Rmsprop>(o); },
      [](const O& o) -> int64_t { return 1 + (o.centered ? 1 : 0) + (o.momentum > 0 ? 1 : 0); }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
