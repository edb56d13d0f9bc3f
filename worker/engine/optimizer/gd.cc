#include "worker/engine/optimizer/gd.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void GradientDescent::Update(const std::vector<ParamSlot>& slots, double lr) {
  for (const ParamSlot& slot : slots) {
    Apply(slot, *slot.grad, lr);
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
