#include "worker/engine/optimizer/grouped.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "worker/engine/catalog.h"
#include "worker/engine/optimizer/adam.h"
#include "worker/engine/optimizer/matrix_functions.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// Moves the tensors of `slots` from `from` to `to` (node handles: no copy, no allocation).
void MoveSlotTensors(const std::vector<ParamSlot>& slots, OptimizerState* from,
                     OptimizerState* to) {
  for (const ParamSlot& slot : slots) {
    auto node = from->tensors.extract(slot.id);
    if (!node.empty()) to->tensors.insert(std::move(node));
  }
}

bool ValidScale(double scale) { return std::isfinite(scale) && scale > 0; }

}  // namespace

GroupedOptimizer::GroupedOptimizer(std::unique_ptr<Optimizer> main, double main_lr_scale,
                                   std::unique_ptr<Optimizer> aux, double aux_lr_scale)
    : main_(std::move(main)),
      aux_(std::move(aux)),
      main_lr_scale_(main_lr_scale),
      aux_lr_scale_(aux_lr_scale) {
  OPTBENCH_CHECK(main_ != nullptr && aux_ != nullptr);
  OPTBENCH_CHECK(ValidScale(main_lr_scale) && ValidScale(aux_lr_scale));
}

void GroupedOptimizer::Update(const std::vector<ParamSlot>& slots, double lr) {
  main_slots_.clear();
  aux_slots_.clear();
  for (const ParamSlot& slot : slots) {
    (slot.role == ParamRole::kHiddenMatrix ? main_slots_ : aux_slots_).push_back(slot);
  }
  OptimizerState* own = mutable_state();
  // The groups see the same step counter as this optimizer (restored checkpoints included).
  main_->mutable_state()->step = own->step - 1;
  aux_->mutable_state()->step = own->step - 1;
  MoveSlotTensors(main_slots_, own, main_->mutable_state());
  MoveSlotTensors(aux_slots_, own, aux_->mutable_state());
  main_->Step(main_slots_, lr * main_lr_scale_);
  aux_->Step(aux_slots_, lr * aux_lr_scale_);
  MoveSlotTensors(main_slots_, main_->mutable_state(), own);
  MoveSlotTensors(aux_slots_, aux_->mutable_state(), own);
}

bool GroupedOptimizer::EffectiveStepSizesFrom(const OptimizerState& state, const ParamSlot& slot,
                                              double lr, Matrix* out) const {
  return slot.role == ParamRole::kHiddenMatrix
             ? main_->EffectiveStepSizesFrom(state, slot, lr * main_lr_scale_, out)
             : aux_->EffectiveStepSizesFrom(state, slot, lr * aux_lr_scale_, out);
}

bool Paper2AuxAdam::EffectiveStepSizesFrom(const OptimizerState& state, const ParamSlot& slot,
                                           double lr, Matrix* out) const {
  return AdamEffectiveStepSizes(state, slot.id, "exp_avg_sq", kBeta2, /*bias_correction=*/true,
                                kEps, lr, out);
}

void Paper2AuxAdam::Update(const std::vector<ParamSlot>& slots, double lr) {
  for (const ParamSlot& slot : slots) {
    const bool decay = slot.role == ParamRole::kOutputHead || slot.role == ParamRole::kHiddenMatrix;
    AdamFallbackStep(mutable_state(), slot, state().step, lr, kBeta1, kBeta2, kEps,
                     decay ? kWeightDecay : 0.0);
  }
}

absl::StatusOr<std::unique_ptr<Optimizer>> MakeGroupedOptimizer(
    const std::string& main_name, const spec::ParamMap& main_params, const std::string& aux_name,
    const spec::ParamMap& aux_params, double main_lr_scale, double aux_lr_scale) {
  if (!ValidScale(main_lr_scale) || !ValidScale(aux_lr_scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer groups: lr scales must be > 0 and "
                     "finite; got main ",
                     main_lr_scale, ", aux ", aux_lr_scale));
  }
  absl::StatusOr<std::unique_ptr<Optimizer>> main = MakeOptimizer(main_name, main_params);
  if (!main.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("main optimizer: ", main.status().message()));
  }
  std::unique_ptr<Optimizer> aux;
  if (aux_name.empty()) {
    if (!aux_params.empty()) {
      return absl::InvalidArgumentError(
          "aux optimizer: parameters given without a name; the default (paper 2's fixed Adam) "
          "takes none");
    }
    aux = std::make_unique<Paper2AuxAdam>();
  } else {
    absl::StatusOr<std::unique_ptr<Optimizer>> built = MakeOptimizer(aux_name, aux_params);
    if (!built.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("aux optimizer: ", built.status().message()));
    }
    aux = *std::move(built);
  }
  return std::make_unique<GroupedOptimizer>(*std::move(main), main_lr_scale, std::move(aux),
                                            aux_lr_scale);
}

const OptimizerDef& Paper2AuxAdamDefinition() {
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<NoOptions>(
      "paper2_adam",
      "paper 2's fixed auxiliary Adam (kvfrans/matrix-whitening): betas (0.9, 0.99), "
      "eps 1e-8, decoupled weight decay 0.001 * lr on matrices only; use as "
      "aux_optimizer",
      0.01, spec::Binding<NoOptions>({}),
      [](const NoOptions&) { return std::make_unique<Paper2AuxAdam>(); },
      [](const NoOptions&) -> int64_t { return 2; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
