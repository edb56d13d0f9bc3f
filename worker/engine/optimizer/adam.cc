#include "worker/engine/optimizer/adam.h"

#include <cmath>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Adam::Adam(const AdamOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.eps > 0);
  OPTBENCH_CHECK(options.weight_decay >= 0);
}

template <typename Grad>
void Adam::UpdateSlot(const ParamSlot& slot, const Grad& g, Real step_size, Real bc2_sqrt) {
  // 1 - beta is formed in double, then rounded once (as PyTorch passes it as a Python float).
  const Real beta1 = static_cast<Real>(options_.beta1);
  const Real one_minus_beta1 = static_cast<Real>(1.0 - options_.beta1);
  const Real beta2 = static_cast<Real>(options_.beta2);
  const Real one_minus_beta2 = static_cast<Real>(1.0 - options_.beta2);
  const Real eps = static_cast<Real>(options_.eps);
  Matrix& v = StateTensor(slot, "exp_avg_sq");
  v.array() = beta2 * v.array() + one_minus_beta2 * g.square();
  const Matrix* second = &v;
  if (options_.amsgrad) {
    Matrix& v_max = StateTensor(slot, "max_exp_avg_sq");
    v_max = v_max.cwiseMax(v);
    second = &v_max;
  }
  const auto denom = second->array().sqrt() / bc2_sqrt + eps;
  if (options_.beta1 == 0) {
    // g may read theta (coupled decay): the update is coefficient-wise, so each coordinate of
    // theta is read before it is written.
    slot.value->array() -= step_size * (g / denom);
  } else {
    Matrix& m = StateTensor(slot, "exp_avg");
    m.array() = beta1 * m.array() + one_minus_beta1 * g;
    slot.value->array() -= step_size * (m.array() / denom);
  }
}

bool Adam::EffectiveStepSizesFrom(const OptimizerState& state, const ParamSlot& slot, double lr,
                                  Matrix* out) const {
  return AdamEffectiveStepSizes(state, slot.id, options_.amsgrad ? "max_exp_avg_sq" : "exp_avg_sq",
                                options_.beta2, options_.bias_correction, options_.eps, lr, out);
}

bool AdamEffectiveStepSizes(const OptimizerState& state, std::string_view id,
                            std::string_view second_moment, double beta2, bool bias_correction,
                            double eps, double lr, Matrix* out) {
  if (state.step == 0) return false;
  auto slot = state.tensors.find(id);
  if (slot == state.tensors.end()) return false;
  auto v = slot->second.find(second_moment);
  if (v == slot->second.end()) return false;
  const double t = static_cast<double>(state.step);
  const double bc2 = bias_correction ? 1.0 - std::pow(beta2, t) : 1.0;
  out->resize(v->second.rows(), v->second.cols());
  out->array() = static_cast<Real>(lr) /
                 ((v->second.array() / static_cast<Real>(bc2)).sqrt() + static_cast<Real>(eps));
  return true;
}

void Adam::Update(const std::vector<ParamSlot>& slots, double lr) {
  const double t = static_cast<double>(state().step);
  const double bc1 = options_.bias_correction ? 1.0 - std::pow(options_.beta1, t) : 1.0;
  const double bc2 = options_.bias_correction ? 1.0 - std::pow(options_.beta2, t) : 1.0;
  const Real step_size = static_cast<Real>(lr / bc1);
  const Real bc2_sqrt = static_cast<Real>(std::sqrt(bc2));
  const Real lambda = static_cast<Real>(options_.weight_decay);
  for (const ParamSlot& slot : slots) {
    if (options_.weight_decay == 0) {
      UpdateSlot(slot, slot.grad->array(), step_size, bc2_sqrt);
    } else if (options_.decoupled_weight_decay) {
      // torch.optim.AdamW: theta <- theta (1 - lr lambda), with 1 - lr lambda formed in double.
      *slot.value *= static_cast<Real>(1.0 - lr * options_.weight_decay);
      UpdateSlot(slot, slot.grad->array(), step_size, bc2_sqrt);
    } else {
      UpdateSlot(slot, slot.grad->array() + lambda * slot.value->array(), step_size, bc2_sqrt);
    }
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
