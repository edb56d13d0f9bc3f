#include "worker/engine/optimizer/signum.h"

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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
