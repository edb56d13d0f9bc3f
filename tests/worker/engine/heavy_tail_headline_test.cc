// Paper 1's headline at small size (Kunstner et al. 2024, arXiv 2402.19449; ALGORITHMS.md 1.5):
// on heavy-tailed classes, gradient descent fits the frequent classes and leaves the rare ones
// at their initial loss, while Adam and sign descent fit every frequency group. Float32, the
// product precision.
//
// Setup: D1 with m = 7 (n = 896, d = 1024, c = 127), linear model with zero init (so the initial
// loss is exactly log c), full batch, 150 steps, frequency groups of ALGORITHMS.md 1.4 with G = 10.
//
// Step sizes were tuned, not picked to make a point: for each optimizer we ran the grid 10^k,
// k = -6, -5.5, ..., 1, for these 150 steps, and took the step size with the lowest final mean
// loss among those whose training loss never increased during the run (the paper's own selection
// note for this experiment rejects step sizes that are "better at the end but unstable
// throughout"; experiments/toy_models/balanced_x_perclass.py). Measured (final mean loss, most
// frequent / rarest group; log c = 4.844):
//   gd            10^-2    3.89   1.85 / 5.80
//   gd            10^-1.5  3.61   1.65 / 5.62   <- chosen (10^-1: 2.81, but the loss rose 87 times)
//   adam          10^-3    0.58   0.97 / 0.12   <- chosen (10^-2.5: 0.17, rose once by 0.08)
//   sign_descent  10^-3.5  1.24   1.55 / 0.42   <- chosen (10^-3: 1.30, rose 37 times)
// Without the stability rule, larger step sizes do lower GD's final loss at this small size
// (10^-1: rarest group 4.58; 10^0 and above fit every group, with loss spikes of 10-100x on the
// way), which is why the rule is part of the protocol. At 200 steps the same step sizes win and
// the picture is the same (rarest group 5.47 / 0.07 / 0.10).
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "spec/frequency_groups.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {
namespace {

using testing::RunJob;

static_assert(sizeof(Real) == 4, "the headline is checked at the product precision");

constexpr int64_t kM = 7;
constexpr int64_t kSteps = 150;
constexpr int kGroups = 10;

using LastEvaluationSink = testing::EvaluationRecorder;
using testing::SplitMetrics;

struct GroupLosses {
  double initial_mean = 0;
  std::vector<double> final_groups;  // Group 0 = most frequent.
};

// Trains D1 with `optimizer` at `lr` and returns the mean train loss per frequency group at the
// last step (group loss = sum of per-class loss sums / sum of counts, ALGORITHMS.md 1.4).
GroupLosses Train(const std::string& optimizer, double lr) {
  TrainJob spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.dataset.params["m"] = kM;
  spec.model.name = "linear";
  spec.model.params["init"] = std::string("zeros");
  spec.optimizer.name = optimizer;
  spec.optimizer.params["lr"] = lr;
  spec.trainer.steps = kSteps;
  spec.trainer.eval_every = kSteps;
  LastEvaluationSink sink;
  absl::StatusOr<RunResult> result = RunJob(spec, &sink, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted) << result->message;
  GroupLosses out;
  if (sink.evals.size() != 2) {
    ADD_FAILURE() << "expected evaluations at steps 0 and " << kSteps;
    return out;
  }
  out.initial_mean = sink.evals.front().splits[0].loss;
  const SplitMetrics& last = sink.evals.back().splits[0];
  for (const std::vector<int64_t>& group :
       spec::FrequencyGroups(sink.info.train_class_counts, kGroups)) {
    double loss = 0, count = 0;
    for (int64_t k : group) {
      loss += last.loss_sum[k];
      count += static_cast<double>(sink.info.train_class_counts[k]);
    }
    out.final_groups.push_back(loss / count);
  }
  return out;
}

TEST(HeavyTailHeadlineTest, GradientDescentLeavesRareClassesWhereAdamAndSignFitThem) {
  const double log_c = std::log((1 << kM) - 1.0);
  const GroupLosses gd = Train("gd", std::pow(10.0, -1.5));
  const GroupLosses adam = Train("adam", 1e-3);
  const GroupLosses sign = Train("sign_descent", std::pow(10.0, -3.5));
  for (const GroupLosses* run : {&gd, &adam, &sign}) {
    ASSERT_EQ(run->final_groups.size(), static_cast<size_t>(kGroups));
    EXPECT_NEAR(run->initial_mean, log_c, 1e-6);  // Zero init: exactly log c per example.
    // Every optimizer fits the most frequent group (measured 0.34, 0.20, 0.32 log c).
    EXPECT_LT(run->final_groups.front(), 0.5 * log_c);
  }
  // GD makes no progress on the rarest group: it ends above its initial loss (measured 1.16 log c,
  // 3.4 times the most frequent group's: GD moves probability mass onto the frequent classes).
  EXPECT_GT(gd.final_groups.back(), 0.9 * log_c);
  EXPECT_GT(gd.final_groups.back(), 2.5 * gd.final_groups.front());
  // Adam and sign descent fit the rarest group (measured 0.025 and 0.086 log c), better than the
  // most frequent one.
  for (const GroupLosses* run : {&adam, &sign}) {
    EXPECT_LT(run->final_groups.back(), 0.5 * log_c);
    EXPECT_LT(run->final_groups.back(), run->final_groups.front());
  }
}

}  // namespace
}  // namespace optbench::engine
