#include "worker/engine/optimizer/normalized_gd.h"

#include <cmath>

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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
