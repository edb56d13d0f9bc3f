#include "worker/engine/schedule.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using testing::ValidateTrainJob;

using ::testing::HasSubstr;

TrainerSpec Spec(const std::string& schedule, int64_t steps, int64_t warmup, double floor = 0) {
  TrainerSpec spec;
  spec.steps = steps;
  spec.schedule = schedule;
  spec.warmup_steps = warmup;
  spec.min_lr_ratio = floor;
  return spec;
}

TEST(ScheduleTest, ConstantIsTheBaseRate) {
  const TrainerSpec spec = Spec("constant", 10, 0);
  for (int64_t t = 1; t <= 10; ++t) EXPECT_EQ(ScheduledLearningRate(spec, 0.3, t), 0.3);
}

TEST(ScheduleTest, WarmupIsLinearFromBaseOverW) {
  // W = 4: steps 1..4 use 0.25, 0.5, 0.75, 1 times the base; then the schedule proper.
  const TrainerSpec spec = Spec("constant", 10, 4);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 2.0, 1), 0.5);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 2.0, 2), 1.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 2.0, 4), 2.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 2.0, 5), 2.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 2.0, 10), 2.0);
}

TEST(ScheduleTest, CosineDecaysToTheFloorAfterWarmup) {
  // T = 12, W = 2: p = (t - 3) / 10 for t >= 3; lr = base (r + (1 - r)(1 + cos(pi p)) / 2).
  const TrainerSpec spec = Spec("cosine", 12, 2, 0.1);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 1), 0.5);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 2), 1.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 3), 1.0);              // p = 0.
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 8), 0.1 + 0.9 * 0.5);  // p = 1/2.
  const double last = 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.9));
  EXPECT_NEAR(ScheduledLearningRate(spec, 1.0, 12), last, 1e-15);
  for (int64_t t = 3; t < 12; ++t) {
    EXPECT_GT(ScheduledLearningRate(spec, 1.0, t), ScheduledLearningRate(spec, 1.0, t + 1));
  }
}

TEST(ScheduleTest, LinearDecaysTowardZeroAndStaysPositive) {
  // W = 0: LinearLR(1, 0, T): step t uses base (1 - (t - 1) / T).
  const TrainerSpec spec = Spec("linear", 4, 0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 1), 1.0);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 2), 0.75);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(spec, 1.0, 4), 0.25);
  // The last step of a very long cosine run is tiny but not 0 (1 + cos(pi p) would round to 0).
  const double tail = ScheduledLearningRate(Spec("cosine", 1'000'000'000, 0), 1.0, 1'000'000'000);
  EXPECT_GT(tail, 0.0);
  EXPECT_NEAR(tail, std::pow(M_PI / 2e9, 2), 1e-30);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(Spec("linear", 5, 5), 1.0, 5), 1.0);  // All warmup.
}

TrainJob ValidSpec() {
  TrainJob spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.model.name = "linear";
  spec.optimizer.name = "adam";
  spec.trainer.steps = 100;
  return spec;
}

std::string ErrorOf(const TrainJob& spec) {
  absl::StatusOr<TrainJob> out = ValidateTrainJob(spec);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST(ScheduleTest, ValidationNamesTheTrainerField) {
  TrainJob spec = ValidSpec();
  spec.trainer.schedule = "cosin";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.schedule: 'cosin' is not allowed; allowed one of "
                                       "constant, cosine, linear"));
  spec = ValidSpec();
  spec.trainer.warmup_steps = 101;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.warmup_steps: 101 is out of range; allowed [0, "
                                       "100]"));
  spec.trainer.warmup_steps = -1;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.warmup_steps: -1"));
  spec = ValidSpec();
  spec.trainer.schedule = "cosine";
  spec.trainer.min_lr_ratio = 1.5;
  EXPECT_THAT(ErrorOf(spec),
              HasSubstr("trainer.min_lr_ratio: 1.5 is out of range; allowed [0, 1]"));
  spec.trainer.min_lr_ratio = std::nan("");
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.min_lr_ratio: nan"));
  spec.trainer.schedule = "linear";
  spec.trainer.min_lr_ratio = 0.1;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.min_lr_ratio: 0.1 is only used by schedule "
                                       "'cosine'"));
}

// (An empty schedule on the wire means constant: tests/proto/convert_test.cc.)
TEST(ScheduleTest, ValidSchedulesPass) {
  TrainJob spec = ValidSpec();
  absl::StatusOr<TrainJob> out = ValidateTrainJob(spec);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->trainer.schedule, "constant");
  spec.trainer.schedule = "cosine";
  spec.trainer.warmup_steps = 100;
  spec.trainer.min_lr_ratio = 1.0;
  EXPECT_TRUE(ValidateTrainJob(spec).ok());
}

}  // namespace
}  // namespace optbench::engine
