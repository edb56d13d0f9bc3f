#include "worker/engine/optimizer/sign_descent.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void SignDescent::Update(const std::vector<ParamSlot>& slots, double lr) {
  for (const ParamSlot& slot : slots) {
    // Eigen's sign is (x > 0) - (x < 0): sign(0) = 0 as in PyTorch, so coordinates with a zero
    // gradient (e.g. rows of classes absent from the data) do not move.
    Apply(slot, slot.grad->cwiseSign(), lr);
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
