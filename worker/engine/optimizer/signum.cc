#include "worker/engine/optimizer/signum.h"

#include <memory>
#include <string>
#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Signum::Signum(const SignumOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.lookahead >= 0 && options.lookahead <= 1);
  OPTBENCH_CHECK(options.weight_decay >= 0);
}

void Signum::Update(const std::vector<ParamSlot>& slots, double lr) {
  const Real beta1 = static_cast<Real>(options_.beta1);
  const Real one_minus_beta1 = static_cast<Real>(1.0 - options_.beta1);
  const Real la = static_cast<Real>(options_.lookahead);
  const Real one_minus_la = static_cast<Real>(1.0 - options_.lookahead);
  const Real step = static_cast<Real>(lr);
  const Real lambda = static_cast<Real>(options_.weight_decay);
  for (const ParamSlot& slot : slots) {
    Matrix& m = StateTensor(slot, "exp_avg");
    const auto g = slot.grad->array();
    m.array() = beta1 * m.array() + one_minus_beta1 * g;
    const auto u = (one_minus_la * m.array() + la * g).sign();
    slot.value->array() -= step * (u + lambda * slot.value->array());
  }
}

const OptimizerDef& SignumDefinition() {
  using O = SignumOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "signum",
      "Signum (Bernstein et al. 2018; paper 2's signum.py): theta -= lr (sign((1-la) m + "
      "la g) + wd theta)",
      1e-3,
      spec::Binding<O>({spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1),
                                   "momentum decay of m = beta1 m + (1-beta1) g"),
                        spec::Bind(&O::lookahead, "lookahead", spec::Closed(0, 1),
                                   "la: weight of g in the signed interpolation"),
                        WeightDecayField(&O::weight_decay, kDecoupledDecayDoc)}),
      [](const O& o) { return std::make_unique<Signum>(o); },
      [](const O&) -> int64_t { return 1; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
