#include "worker/engine/optimizer/normalized_gd.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void NormalizedGradientDescent::Update(const std::vector<ParamSlot>& slots, double lr) {
  double squared_norm = 0;
  for (const ParamSlot& slot : slots) {
    squared_norm += slot.grad->template cast<double>().squaredNorm();
  }
  const double norm = std::sqrt(squared_norm);
  const Real scale = norm > 0 ? static_cast<Real>(1.0 / norm) : Real{0};
  for (const ParamSlot& slot : slots) {
    Apply(slot, *slot.grad * scale, lr);
  }
}

const OptimizerDef& NormalizedGradientDescentDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<MomentumOptions>(
      "normalized_gd",
      "paper 1 normalized GD: u = g / ||g|| (norm over all parameters) fed to heavy-ball momentum",
      0.1, spec::Binding<MomentumOptions>({MomentumField()}),
      [](const MomentumOptions& o) {
        return std::make_unique<NormalizedGradientDescent>(o.momentum);
      },
      [](const MomentumOptions& o) -> int64_t { return o.momentum > 0 ? 1 : 0; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
