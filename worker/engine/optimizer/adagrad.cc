#include "worker/engine/optimizer/adagrad.h"

#include <memory>
#include <string>
#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Adagrad::Adagrad(const AdagradOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.lr_decay >= 0 && options.weight_decay >= 0 &&
                 options.initial_accumulator_value >= 0 && options.eps > 0);
}

void Adagrad::Update(const std::vector<ParamSlot>& slots, double lr) {
  const double t = static_cast<double>(state().step);
  const Real clr = static_cast<Real>(lr / (1.0 + (t - 1.0) * options_.lr_decay));
  const Real lambda = static_cast<Real>(options_.weight_decay);
  const Real eps = static_cast<Real>(options_.eps);
  for (const ParamSlot& slot : slots) {
    bool created = false;
    Matrix& sum = StateTensor(slot, "sum", &created);
    if (created) sum.setConstant(static_cast<Real>(options_.initial_accumulator_value));
    // Coefficient-wise: each coordinate of theta is read (in g) before it is written.
    const auto g = slot.grad->array() + lambda * slot.value->array();
    sum.array() += g.square();
    slot.value->array() -= clr * (g / (sum.array().sqrt() + eps));
  }
}

const OptimizerDef& AdagradDefinition() {
  using O = AdagradOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "adagrad",
      "Adagrad (Duchi et al. 2011, torch.optim.Adagrad): s += g^2, "
      "theta -= lr g / (sqrt(s) + eps)",
      1e-2,
      spec::Binding<O>({spec::Bind(&O::lr_decay, "lr_decay", spec::Closed(0, 1e6),
                                   "lr_t = lr / (1 + (t - 1) lr_decay)"),
                        WeightDecayField(&O::weight_decay, kCoupledDecayDoc),
                        spec::Bind(&O::initial_accumulator_value, "initial_accumulator_value",
                                   spec::Closed(0, 1e6), "initial value of s"),
                        spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1), "added to sqrt(s)")}),
      [](const O& o) { return std::make_unique<Adagrad>(o); },
      [](const O&) -> int64_t { return 1; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
