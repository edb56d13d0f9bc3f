#include "worker/engine/optimizer/sign_descent.h"

#include <memory>
#include <string>
#include <utility>

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void SignDescent::Update(const std::vector<ParamSlot>& slots, double lr) {
  for (const ParamSlot& slot : slots) {
    // Eigen's sign is (x > 0) - (x < 0): sign(0) = 0 as in PyTorch, so coordinates with a zero
    // gradient (e.g. rows of classes absent from the data) do not move.
    Apply(slot, slot.grad->cwiseSign(), lr);
  }
}

const OptimizerDef& SignDescentDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<MomentumOptions>(
      "sign_descent", "paper 1 sign descent: u = sign(g) fed to heavy-ball momentum (not Signum)",
      1e-3, spec::Binding<MomentumOptions>({MomentumField()}),
      [](const MomentumOptions& o) { return std::make_unique<SignDescent>(o.momentum); },
      [](const MomentumOptions& o) -> int64_t { return o.momentum > 0 ? 1 : 0; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
