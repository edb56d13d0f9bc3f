#include "worker/engine/optimizer/gd.h"

#include <memory>
#include <string>
#include <utility>

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

namespace {

spec::Binding<GradientDescentOptions> GradientDescentBinding() {
  using O = GradientDescentOptions;
  return spec::Binding<O>({spec::Bind(&O::momentum, "momentum", spec::HalfOpen(0, 1),
                                      "heavy-ball momentum mu, b = mu b + u (PyTorch style)"),
                           spec::Bind(&O::nesterov, "nesterov",
                                      "Nesterov momentum (torch.optim.SGD); needs momentum > 0"),
                           WeightDecayField(&O::weight_decay, kCoupledDecayDoc)});
}

OptimizerDef DefineGradientDescent(std::string name, std::string doc) {
  return DefineOptimizer<GradientDescentOptions>(
      std::move(name), std::move(doc), 0.1, GradientDescentBinding(),
      [](const GradientDescentOptions& o) { return std::make_unique<GradientDescent>(o); },
      [](const GradientDescentOptions& o) -> int64_t { return o.momentum > 0 ? 1 : 0; },
      [](const GradientDescentOptions& o) {
        if (o.nesterov && o.momentum == 0) {
          return absl::InvalidArgumentError(
              "optimizer.nesterov: true requires momentum > 0 (as torch.optim.SGD)");
        }
        return absl::OkStatus();
      });
}

}  // namespace

const OptimizerDef& GradientDescentDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineGradientDescent(
      "gd",
      "gradient descent with heavy-ball or Nesterov momentum and coupled L2 decay, as "
      "torch.optim.SGD: b = mu b + (g + wd theta), theta -= lr b"));
  return *def;
}

const OptimizerDef& SgdDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineGradientDescent(
      "sgd",
      "alias of gd (torch.optim.SGD without dampening): heavy-ball or Nesterov momentum, "
      "coupled L2 decay"));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
