// Parameter groups: hidden matrices to the optimizer under test, everything else (embeddings,
// output head, vectors) to an auxiliary optimizer, as paper 2 trains (ALGORITHMS.md 2.2, 0.7).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_GROUPED_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_GROUPED_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/params.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Routes each slot by its role: kHiddenMatrix to `main`, all other roles to `aux`; each group is
// stepped with its own step size lr * scale. Owns both optimizers. The state is the union of the
// two optimizers' per-slot tensors, keyed by slot id as for any optimizer (ids are unique, so the
// groups never collide), with step = the number of Step calls: saving state() and assigning it
// back through mutable_state() restores both groups. Between steps the sub-optimizers hold no
// tensors: each Update hands them their slots' tensors and takes them back (map nodes are moved,
// not copied). Not thread-safe.
class GroupedOptimizer : public Optimizer {
 public:
  // Preconditions (checked): both optimizers non-null, scales > 0 and finite.
  GroupedOptimizer(std::unique_ptr<Optimizer> main, double main_lr_scale,
                   std::unique_ptr<Optimizer> aux, double aux_lr_scale);

  // The owning group's rule, from this optimizer's state, at that group's step size.
  bool EffectiveStepSizesFrom(const OptimizerState& state, const ParamSlot& slot, double lr,
                              Matrix* out) const override;

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  std::unique_ptr<Optimizer> main_, aux_;
  double main_lr_scale_, aux_lr_scale_;
  std::vector<ParamSlot> main_slots_, aux_slots_;
};

// Paper 2's fixed auxiliary Adam (kvfrans/matrix-whitening run_baselines.py; ALGORITHMS.md 2.2):
// bias-corrected Adam with betas (0.9, 0.99), eps 1e-8 and decoupled weight decay 0.001 scaled by
// the step size (theta <- theta (1 - lr wd) before the Adam step), applied only to kOutputHead and
// kHiddenMatrix slots: masked off for vectors (biases, gains) and embeddings. State per slot:
// "exp_avg", "exp_avg_sq". Not thread-safe.
class Paper2AuxAdam : public Optimizer {
 public:
  static constexpr double kBeta1 = 0.9, kBeta2 = 0.99, kEps = 1e-8, kWeightDecay = 0.001;

  bool EffectiveStepSizesFrom(const OptimizerState& state, const ParamSlot& slot, double lr,
                              Matrix* out) const override;

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;
};

// Builds GroupedOptimizer(MakeOptimizer(main_name, main_params), main_lr_scale, aux,
// aux_lr_scale) where aux is MakeOptimizer(aux_name, aux_params), or Paper2AuxAdam when aux_name
// is empty (aux_params must then be empty). Paper 2's setup is main lr tuned, aux lr 0.01:
// aux_lr_scale = 0.01 / main lr. InvalidArgument for an unknown name, bad parameters (the
// message names the group: "main optimizer: ..." / "aux optimizer: ..."), or a scale that is not
// > 0 and finite.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeGroupedOptimizer(
    const std::string& main_name, const spec::ParamMap& main_params, const std::string& aux_name,
    const spec::ParamMap& aux_params, double main_lr_scale = 1.0, double aux_lr_scale = 1.0);

// The registered "paper2_adam" (Paper2AuxAdam).
const OptimizerDef& Paper2AuxAdamDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_GROUPED_H_
