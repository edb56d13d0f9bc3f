#include "worker/engine/optimizer/scaled_sign.h"

#include <memory>
#include <string>
#include <utility>

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void ScaledSignDescent::Update(const std::vector<ParamSlot>& slots, double lr) {
  double l1 = 0;
  for (const ParamSlot& slot : slots) l1 += slot.grad->template cast<double>().cwiseAbs().sum();
  const Real scale = static_cast<Real>(l1);
  for (const ParamSlot& slot : slots) {
    // Eigen's sign is (x > 0) - (x < 0): sign(0) = 0, as in PyTorch.
    Apply(slot, slot.grad->cwiseSign() * scale, lr);
  }
}

const OptimizerDef& ScaledSignDescentDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<MomentumOptions>(
      "scaled_sign",
      "paper 1 rescaled sign descent: u = sign(g) ||g||_1 (norm over all parameters) fed to "
      "heavy-ball momentum",
      1e-3, spec::Binding<MomentumOptions>({MomentumField()}),
      [](const MomentumOptions& o) { return std::make_unique<ScaledSignDescent>(o.momentum); },
      [](const MomentumOptions& o) -> int64_t { return o.momentum > 0 ? 1 : 0; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
