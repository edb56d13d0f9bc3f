#include "worker/engine/optimizer/scaled_sign.h"

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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
