// The trainer drives the optimizer with the scheduled step size (schedule.h) and reports it.
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/schedule.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

// Records the step size of every Step and changes nothing.
class RecordingOptimizer : public Optimizer {
 public:
  std::vector<double> lrs;

 protected:
  void Update(const std::vector<ParamSlot>&, double lr) override { lrs.push_back(lr); }
};

TEST(TrainerScheduleTest, StepsUseAndEvaluationsReportTheScheduledRate) {
  const Dataset data = MakeHeavyTailUniform(3, 0);
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kZeros, 0);
  RecordingOptimizer optimizer;
  TrainerSpec spec;
  spec.steps = 10;
  spec.eval_every = 5;
  spec.schedule = "cosine";
  spec.warmup_steps = 3;
  spec.min_lr_ratio = 0.1;
  Trainer trainer(spec, 0.5, &data, &model, &optimizer, 0);
  std::vector<std::pair<int64_t, double>> reported;
  TrainerCallbacks callbacks;
  callbacks.on_evaluation = [&](const TrainerEvaluation& e) {
    reported.emplace_back(e.step, e.learning_rate);
    return absl::OkStatus();
  };
  ASSERT_TRUE(trainer.Run(callbacks).ok());
  ASSERT_EQ(optimizer.lrs.size(), 10u);
  for (int64_t t = 1; t <= 10; ++t) {
    EXPECT_EQ(optimizer.lrs[t - 1], ScheduledLearningRate(spec, 0.5, t)) << t;
  }
  EXPECT_EQ(optimizer.lrs[0], 0.5 / 3);  // Warmup starts at lr / W.
  EXPECT_EQ(optimizer.lrs[2], 0.5);
  EXPECT_LT(optimizer.lrs[9], optimizer.lrs[3]);
  // Evaluations at 0, 5 and 10 report the step taken from those parameters (the last one's at 10).
  ASSERT_EQ(reported.size(), 3u);
  EXPECT_EQ(reported[0].second, optimizer.lrs[0]);
  EXPECT_EQ(reported[1].second, optimizer.lrs[5]);
  EXPECT_EQ(reported[2].second, optimizer.lrs[9]);
}

}  // namespace
}  // namespace optbench::engine
