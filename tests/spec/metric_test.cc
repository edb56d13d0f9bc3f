#include "spec/metric.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace optbench::spec {
namespace {

using ::optbench::testing::IsOk;
using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MetricTest, ValuesMustHaveTheDeclaredShape) {
  const MetricSpec scalar = ScalarMetric("grad_norm", MetricSplits::kTrain, "");
  EXPECT_THAT(CheckMetricValue(scalar, Split::kTrain, 1, 10), IsOk());
  EXPECT_THAT(CheckMetricValue(scalar, Split::kTrain, 2, 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metric 'grad_norm' (scalar) needs exactly 1 value, got 2")));
  EXPECT_THAT(CheckMetricValue(scalar, Split::kTest, 1, 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'grad_norm' is recorded for the train split only")));

  const MetricSpec per_class =
      PerClassMetric("loss_sum", MetricSplits::kEach, Aggregate::kPerExample, "");
  EXPECT_THAT(CheckMetricValue(per_class, Split::kTest, 10, 10), IsOk());
  EXPECT_THAT(CheckMetricValue(per_class, Split::kTest, 9, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly 10 values, got 9")));
  EXPECT_THAT(CheckMetricValue(per_class, Split::kTrain, 3, 0), IsOk());  // Classes unknown yet.
  EXPECT_THAT(CheckMetricValue(per_class, Split::kTrain, 0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 1 value")));

  MetricSpec per_block = PerItemMetric("block_mse", "block", MetricSplits::kTrain, "");
  per_block.items = {"block0", "block1"};
  EXPECT_THAT(CheckMetricValue(per_block, Split::kTrain, 2, 10), IsOk());
  EXPECT_THAT(CheckMetricValue(per_block, Split::kTrain, 10, 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'block_mse' (per block) needs exactly 2 values")));
}

TEST(MetricTest, NamesAndLookups) {
  EXPECT_TRUE(IsValidMetricName("diag.attn_11"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("Loss"));
  EXPECT_FALSE(IsValidMetricName("1st"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_FALSE(IsValidMetricName(std::string(65, 'a')));
  MetricSpec loss =
      Renamed(PerClassMetric("loss_sum", MetricSplits::kEach, Aggregate::kPerExample, ""), "loss");
  const std::vector<MetricSpec> metrics = {
      ScalarMetric("lr", MetricSplits::kTrain, ""), loss,
      Renamed(ScalarMetric("loss", MetricSplits::kEach, ""), "")};
  EXPECT_EQ(FindQueryMetric(metrics, "loss")->name, "loss_sum");
  EXPECT_EQ(FindMetric(metrics, "loss")->query, "");  // Stored only.
  EXPECT_EQ(DefaultMetric(metrics)->name, "lr");      // No primary: the first queryable.
  std::vector<MetricSpec> with_primary = metrics;
  with_primary[1].primary = true;
  EXPECT_EQ(DefaultMetric(with_primary)->name, "loss_sum");
}

}  // namespace
}  // namespace optbench::spec
