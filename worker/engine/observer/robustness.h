// Robust accuracy (paper 4's evaluation, ALGORITHMS.md 4.6) as an observer: at every evaluation,
// per class and for each split, how many examples the model still classifies correctly under
// FGSM and under PGD at the evaluation epsilon (attack.h). The clean count is the objective's
// `correct`, already reported beside it.
#ifndef OPTBENCH_WORKER_ENGINE_OBSERVER_ROBUSTNESS_H_
#define OPTBENCH_WORKER_ENGINE_OBSERVER_ROBUSTNESS_H_

#include <cstdint>
#include <vector>

#include "spec/metric.h"
#include "worker/engine/attack.h"
#include "worker/engine/objective/objective.h"
#include "worker/engine/observer/observer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Metrics (per class, every split; sums over the class's examples, so groups are exact):
// correct_fgsm and correct_pgd, queried as accuracy_fgsm and accuracy_pgd. The attacks
// differentiate `objective` (not owned; it must outlive the observer: the trainer's own). PGD's
// random starts at step t come from AttackRng(seed, t, kEvaluation), train split first. Cost per
// evaluation: (2 + pgd.steps) forward and input-gradient passes over both splits.
class RobustnessObserver : public Observer {
 public:
  // Preconditions as EvaluateRobustness's (attack.h); chunk_rows >= 1 bounds its buffers.
  RobustnessObserver(const AttackOptions& fgsm, const AttackOptions& pgd, Objective* objective,
                     int64_t chunk_rows, uint64_t seed);

  void Declare(std::vector<spec::MetricSpec>* out) const override;
  void Evaluate(const EvaluationContext& ctx, MetricBatch* out) override;

  // Every metric it may emit, for the catalog.
  static std::vector<spec::MetricSpec> Metrics();

 private:
  AttackOptions fgsm_, pgd_;
  Objective* objective_;
  int64_t chunk_rows_;
  uint64_t seed_;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OBSERVER_ROBUSTNESS_H_
