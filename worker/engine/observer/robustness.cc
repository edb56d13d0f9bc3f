#include "worker/engine/observer/robustness.h"

#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr char kCorrectFgsm[] = "correct_fgsm";
constexpr char kCorrectPgd[] = "correct_pgd";

std::vector<double> AsDoubles(const std::vector<int64_t>& counts) {
  return {counts.begin(), counts.end()};
}

}  // namespace

RobustnessObserver::RobustnessObserver(const AttackOptions& fgsm, const AttackOptions& pgd,
                                       Objective* objective, int64_t chunk_rows, uint64_t seed)
    : fgsm_(fgsm), pgd_(pgd), objective_(objective), chunk_rows_(chunk_rows), seed_(seed) {
  OPTBENCH_CHECK(fgsm.method == AttackMethod::kFgsm && pgd.method == AttackMethod::kPgd &&
                 CheckAttackOptions(fgsm).ok() && CheckAttackOptions(pgd).ok() && chunk_rows >= 1 &&
                 objective != nullptr);
}

std::vector<spec::MetricSpec> RobustnessObserver::Metrics() {
  using spec::Aggregate;
  using spec::MetricSplits;
  return {
      spec::HigherIsBetter(spec::Renamed(
          spec::PerClassMetric(kCorrectFgsm, MetricSplits::kEach, Aggregate::kPerExample,
                               "fraction of the group's examples still classified "
                               "right under FGSM at the job's attack epsilon "
                               "(trainer.attack_epsilon; convex.epsilon)"),
          "accuracy_fgsm")),
      spec::HigherIsBetter(spec::Renamed(
          spec::PerClassMetric(kCorrectPgd, MetricSplits::kEach, Aggregate::kPerExample,
                               "fraction of the group's examples still classified "
                               "right under PGD (random start, "
                               "attack_pgd_steps steps) at the job's attack "
                               "epsilon"),
          "accuracy_pgd")),
  };
}

void RobustnessObserver::Declare(std::vector<spec::MetricSpec>* out) const {
  for (spec::MetricSpec& m : Metrics()) out->push_back(std::move(m));
}

void RobustnessObserver::Evaluate(const EvaluationContext& ctx, MetricBatch* out) {
  const Dataset& data = *ctx.data;
  Rng rng = AttackRng(seed_, ctx.step, AttackUse::kEvaluation);
  for (Split split : {Split::kTrain, Split::kTest}) {
    if (split == Split::kTest && !data.has_test()) continue;
    const DataSplit& s = split == Split::kTrain ? data.train() : data.test();
    const RobustnessCounts counts = EvaluateRobustness(fgsm_, pgd_, ctx.model, objective_, s,
                                                       data.num_classes(), chunk_rows_, &rng);
    out->Add(kCorrectFgsm, split, AsDoubles(counts.fgsm));
    out->Add(kCorrectPgd, split, AsDoubles(counts.pgd));
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
