#include "worker/engine/optimizer/optimizer.h"

#include "common/check.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Matrix& Optimizer::StateTensor(const ParamSlot& slot, std::string_view name, bool* created) {
  auto slot_it = state_.tensors.find(slot.id);
  if (slot_it == state_.tensors.end()) slot_it = state_.tensors.try_emplace(slot.id).first;
  auto& per_slot = slot_it->second;
  auto it = per_slot.find(name);
  if (it == per_slot.end()) {
    it = per_slot
             .try_emplace(std::string(name), Matrix::Zero(slot.value->rows(), slot.value->cols()))
             .first;
    if (created != nullptr) *created = true;
  }
  OPTBENCH_CHECK(it->second.rows() == slot.value->rows() &&
                 it->second.cols() == slot.value->cols());
  return it->second;
}

spec::ParamSpec LearningRate(double default_value) {
  return spec::DoubleParam("lr", default_value, spec::LeftOpen(0, 1e6),
                           "step size (learning rate)");
}

spec::Field<MomentumOptions> MomentumField() {
  return spec::Bind(&MomentumOptions::momentum, "momentum", spec::HalfOpen(0, 1),
                    "heavy-ball momentum mu, b = mu b + u (PyTorch style)");
}

HeavyBallOptimizer::HeavyBallOptimizer(double momentum) : momentum_(momentum) {
  OPTBENCH_CHECK(momentum >= 0 && momentum < 1);
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
