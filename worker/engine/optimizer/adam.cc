#include "worker/engine/optimizer/adam.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common/check.h"
#include "worker/engine/optimizer/adamw.h"

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

namespace {

// adam and adamw declare the same hyperparameters; only the decay rule and its default differ.
spec::Binding<AdamOptions> AdamBinding(const char* weight_decay_doc, AdamOptions prototype) {
  using O = AdamOptions;
  return spec::Binding<O>(
      {spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1), "first-moment decay (0 = no momentum)"),
       spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1), "second-moment decay"),
       spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1), "added to sqrt(v_hat)"),
       spec::Bind(&O::bias_correction, "bias_correction", "divide moments by 1 - beta^t"),
       WeightDecayField(&O::weight_decay, weight_decay_doc),
       spec::Bind(&O::amsgrad, "amsgrad", "divide by the running max of v (Reddi et al. 2018)")},
      prototype);
}

int64_t AdamStateTensors(const AdamOptions& o) {
  return (o.beta1 > 0 ? 2 : 1) + (o.amsgrad ? 1 : 0);
}

}  // namespace

const OptimizerDef& AdamDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<AdamOptions>(
      "adam", "Adam (Kingma & Ba 2015): bias-corrected first and second moments", 1e-3,
      AdamBinding("coupled L2: g += weight_decay theta (torch.optim.Adam)", AdamOptions()),
      [](const AdamOptions& o) { return std::make_unique<Adam>(o); }, AdamStateTensors));
  return *def;
}

const OptimizerDef& AdamWDefinition() {
  static const OptimizerDef* def = [] {
    AdamOptions prototype;
    prototype.weight_decay = 1e-2;  // torch.optim.AdamW's default.
    return new OptimizerDef(DefineOptimizer<AdamOptions>(
        "adamw",
        "AdamW (Loshchilov & Hutter 2019, torch.optim.AdamW): Adam with decoupled decay "
        "theta *= 1 - lr wd",
        1e-3, AdamBinding("decoupled decay: theta *= 1 - lr wd", prototype),
        [](const AdamOptions& o) { return std::make_unique<AdamW>(o); }, AdamStateTensors));
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
