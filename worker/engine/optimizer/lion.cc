#include "worker/engine/optimizer/lion.h"

#include <memory>
#include <string>
#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Lion::Lion(const LionOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 <= 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.weight_decay >= 0);
}

void Lion::Update(const std::vector<ParamSlot>& slots, double lr) {
  const Real beta1 = static_cast<Real>(options_.beta1);
  const Real one_minus_beta1 = static_cast<Real>(1.0 - options_.beta1);
  const Real beta2 = static_cast<Real>(options_.beta2);
  const Real one_minus_beta2 = static_cast<Real>(1.0 - options_.beta2);
  const Real step = static_cast<Real>(lr);
  const Real lambda = static_cast<Real>(options_.weight_decay);
  for (const ParamSlot& slot : slots) {
    Matrix& m = StateTensor(slot, "exp_avg");
    const auto g = slot.grad->array();
    // theta is updated from the old m before m moves on.
    slot.value->array() -=
        step * ((beta1 * m.array() + one_minus_beta1 * g).sign() + lambda * slot.value->array());
    m.array() = beta2 * m.array() + one_minus_beta2 * g;
  }
}

const OptimizerDef& LionDefinition() {
  using O = LionOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "lion",
      "Lion (Chen et al. 2023): theta -= lr (sign(beta1 m + (1-beta1) g) + wd theta), "
      "m = beta2 m + (1-beta2) g",
      1e-4,
      spec::Binding<O>({spec::Bind(&O::beta1, "beta1", spec::Closed(0, 1),
                                   "interpolation weight of m in the update"),
                        spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1), "momentum decay"),
                        WeightDecayField(&O::weight_decay, kDecoupledDecayDoc)}),
      [](const O& o) { return std::make_unique<Lion>(o); }, [](const O&) -> int64_t { return 1; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
