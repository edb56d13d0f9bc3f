#include "worker/engine/optimizer/adam.h"

#include <cmath>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Adam::Adam(const AdamOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.eps > 0);
}

void Adam::Update(const std::vector<ParamSlot>& slots, double lr) {
  const double t = static_cast<double>(state().step);
  const double bc1 = options_.bias_correction ? 1.0 - std::pow(options_.beta1, t) : 1.0;
  const double bc2 = options_.bias_correction ? 1.0 - std::pow(options_.beta2, t) : 1.0;
  const Real step_size = static_cast<Real>(lr / bc1);
  const Real bc2_sqrt = static_cast<Real>(std::sqrt(bc2));
  // 1 - beta is formed in double, then rounded once (as PyTorch passes it as a Python float).
  const Real beta1 = static_cast<Real>(options_.beta1);
  const Real one_minus_beta1 = static_cast<Real>(1.0 - options_.beta1);
  const Real beta2 = static_cast<Real>(options_.beta2);
  const Real one_minus_beta2 = static_cast<Real>(1.0 - options_.beta2);
  const Real eps = static_cast<Real>(options_.eps);
  for (const ParamSlot& slot : slots) {
    const auto g = slot.grad->array();
    Matrix& v = StateTensor(slot, "exp_avg_sq");
    v.array() = beta2 * v.array() + one_minus_beta2 * g.square();
    const auto denom = v.array().sqrt() / bc2_sqrt + eps;
    if (options_.beta1 == 0) {
      slot.value->array() -= step_size * (g / denom);
    } else {
      Matrix& m = StateTensor(slot, "exp_avg");
      m.array() = beta1 * m.array() + one_minus_beta1 * g;
      slot.value->array() -= step_size * (m.array() / denom);
    }
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
