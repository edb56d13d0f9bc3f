#include "worker/engine/run_job.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

static_assert(sizeof(Real) == 4, "RunJob is tested at the product precision");

class RecordingSink : public MetricSink {
 public:
  void OnDatasetInfo(const DatasetInfo& info) override {
    ++info_calls;
    this->info = info;
  }
  absl::Status OnEvaluation(const Evaluation& eval) override {
    evals.push_back(eval);
    if (fail_at_step >= 0 && eval.step == fail_at_step) return absl::UnavailableError("lease lost");
    return absl::OkStatus();
  }
  void OnStep(int64_t step) override { last_step = step; }

  int info_calls = 0;
  DatasetInfo info;
  std::vector<Evaluation> evals;
  int64_t last_step = 0;
  int64_t fail_at_step = -1;
};

JobSpec D1Spec(int64_t m, const std::string& optimizer, double lr) {
  JobSpec spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.dataset.params["m"] = m;
  spec.model.name = "linear";
  spec.optimizer.name = optimizer;
  spec.optimizer.params["lr"] = lr;
  spec.trainer.steps = 10;
  spec.trainer.eval_every = 5;
  return spec;
}

JobSpec ZipfSpec() {
  JobSpec spec;
  spec.dataset.name = "zipf_gaussian";
  spec.dataset.params = {{"classes", int64_t{12}},
                         {"min_samples", int64_t{4}},
                         {"noise", 0.5},
                         {"test_fraction", 0.25}};
  spec.model.name = "linear";
  spec.model.params["init"] = std::string("uniform");
  spec.optimizer.name = "adam";
  spec.optimizer.params["lr"] = 0.01;
  spec.trainer.steps = 20;
  spec.trainer.eval_every = 5;
  spec.trainer.batch_size = 16;
  spec.trainer.chunk_rows = 7;
  spec.seed = 5;
  return spec;
}

void ExpectSameMetrics(const std::vector<Evaluation>& a, const std::vector<Evaluation>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].step, b[i].step);
    EXPECT_EQ(a[i].grad_norm, b[i].grad_norm);
    ASSERT_EQ(a[i].splits.size(), b[i].splits.size());
    for (size_t s = 0; s < a[i].splits.size(); ++s) {
      EXPECT_EQ(a[i].splits[s].loss_sum, b[i].splits[s].loss_sum);
      EXPECT_EQ(a[i].splits[s].correct, b[i].splits[s].correct);
      EXPECT_EQ(a[i].splits[s].p_true_sum, b[i].splits[s].p_true_sum);
      EXPECT_EQ(a[i].splits[s].p_mass, b[i].splits[s].p_mass);
    }
  }
}

TEST(RunJobTest, ReportsDatasetInfoAndPerClassEvaluations) {
  RecordingSink sink;
  absl::StatusOr<RunResult> result = RunJob(D1Spec(3, "adam", 0.01), &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
  EXPECT_EQ(result->steps_done, 10);
  EXPECT_EQ(sink.last_step, 10);
  EXPECT_EQ(sink.info_calls, 1);
  EXPECT_EQ(sink.info.num_classes, 7);
  EXPECT_EQ(sink.info.num_features, 32);
  EXPECT_EQ(sink.info.train_class_counts, (std::vector<int64_t>{8, 4, 4, 2, 2, 2, 2}));
  EXPECT_TRUE(sink.info.test_class_counts.empty());
  ASSERT_EQ(sink.evals.size(), 3u);  // Steps 0, 5, 10.
  const SplitMetrics& first = sink.evals[0].splits.at(0);
  ASSERT_EQ(sink.evals[0].splits.size(), 1u);  // D1 has no test split.
  EXPECT_EQ(first.split, Split::kTrain);
  EXPECT_DOUBLE_EQ(first.loss, std::log(7.0));  // Zero init.
  EXPECT_EQ(first.loss_sum.size(), 7u);
  double mass = 0;
  for (double m : first.p_mass) mass += m;
  EXPECT_NEAR(mass, 24.0, 1e-4);
  const SplitMetrics& last = sink.evals[2].splits.at(0);
  EXPECT_LT(last.loss, first.loss);
  double loss_sum = 0;
  for (double l : last.loss_sum) loss_sum += l;
  EXPECT_DOUBLE_EQ(last.loss, loss_sum / 24.0);
  EXPECT_EQ(sink.evals[2].learning_rate, 0.01);
  EXPECT_GT(sink.evals[0].grad_norm, 0.0);
}

TEST(RunJobTest, RunsAreBitIdentical) {
  for (int64_t batch : {0, 16}) {
    JobSpec spec = ZipfSpec();
    spec.trainer.batch_size = batch;
    RecordingSink a, b;
    ASSERT_TRUE(RunJob(spec, &a, nullptr).ok());
    ASSERT_TRUE(RunJob(spec, &b, nullptr).ok());
    ExpectSameMetrics(a.evals, b.evals);
    ASSERT_EQ(a.evals[0].splits.size(), 2u);
    EXPECT_EQ(a.evals[0].splits[1].split, Split::kTest);
    EXPECT_FALSE(a.info.test_class_counts.empty());
  }
}

// Parameter groups: routing every slot between two identical Adams at the same lr must equal one
// Adam over all slots, bit for bit (Adam is per coordinate); a different aux lr must matter.
TEST(RunJobTest, AuxOptimizerGroupsMatchASingleOptimizerWhenIdentical) {
  JobSpec spec = ZipfSpec();
  spec.model.name = "mlp";
  spec.model.params = {{"hidden", std::vector<int64_t>{6}}};
  auto single = ValidateJobSpec(spec);
  ASSERT_TRUE(single.ok()) << single.status();
  spec.aux_optimizer = ComponentChoice{"adam", {{"lr", 0.01}}};
  auto grouped = ValidateJobSpec(spec);
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  RecordingSink a, b, c;
  ASSERT_TRUE(RunJob(*single, &a, nullptr).ok());
  ASSERT_TRUE(RunJob(*grouped, &b, nullptr).ok());
  ExpectSameMetrics(a.evals, b.evals);
  spec.aux_optimizer = ComponentChoice{"adam", {{"lr", 0.001}}};
  auto slower_aux = ValidateJobSpec(spec);
  ASSERT_TRUE(slower_aux.ok());
  ASSERT_TRUE(RunJob(*slower_aux, &c, nullptr).ok());
  EXPECT_NE(a.evals.back().splits[0].loss_sum, c.evals.back().splits[0].loss_sum);
}

TEST(RunJobTest, MuonWithPaper2AuxAdamTrains) {
  JobSpec spec = ZipfSpec();
  spec.model.name = "mlp";
  spec.model.params = {{"hidden", std::vector<int64_t>{8}}};
  spec.optimizer = ComponentChoice{"muon", {{"lr", 0.02}}};
  spec.aux_optimizer = ComponentChoice{"paper2_adam", {}};
  auto valid = ValidateJobSpec(spec);
  ASSERT_TRUE(valid.ok()) << valid.status();
  RecordingSink sink;
  auto result = RunJob(*valid, &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
  EXPECT_LT(sink.evals.back().splits[0].loss, sink.evals.front().splits[0].loss);
  // Validation names the aux group's fields.
  spec.aux_optimizer = ComponentChoice{"adam", {{"lr", -1.0}}};
  EXPECT_NE(ValidateJobSpec(spec).status().message().find("aux_optimizer.lr"), std::string::npos);
  spec.aux_optimizer = ComponentChoice{"adma", {}};
  EXPECT_NE(ValidateJobSpec(spec).status().message().find("aux_optimizer.name"), std::string::npos);
}

TEST(RunJobTest, SeedChangesInitAndBatches) {
  JobSpec spec = ZipfSpec();
  RecordingSink a, b;
  ASSERT_TRUE(RunJob(spec, &a, nullptr).ok());
  spec.seed = 6;
  ASSERT_TRUE(RunJob(spec, &b, nullptr).ok());
  EXPECT_NE(a.evals.back().splits[0].loss_sum, b.evals.back().splits[0].loss_sum);
}

TEST(RunJobTest, InvalidSpecsAreInvalidArgument) {
  RecordingSink sink;
  JobSpec spec = D1Spec(3, "adma", 0.1);
  EXPECT_THAT(RunJob(spec, &sink, nullptr).status().message(), HasSubstr("optimizer.name"));
  spec = D1Spec(3, "gd", 0.1);
  spec.trainer.batch_size = 25;  // D1 with m = 3 has 24 examples.
  absl::Status status = RunJob(spec, &sink, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("trainer.batch_size: 25 exceeds the 24 examples"));
  spec.dataset.name = "csv";
  spec.dataset.params = {{"train_path", std::string("/nonexistent/train.csv")}};
  spec.trainer.batch_size = 0;
  status = RunJob(spec, &sink, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/train.csv: cannot open file"));
  EXPECT_EQ(sink.info_calls, 0);
}

TEST(RunJobTest, SinkErrorIsReturned) {
  RecordingSink sink;
  sink.fail_at_step = 5;
  EXPECT_EQ(RunJob(D1Spec(3, "gd", 0.1), &sink, nullptr).status(),
            absl::UnavailableError("lease lost"));
  EXPECT_EQ(sink.last_step, 5);
}

TEST(RunJobTest, CancelledWhenAskedToStop) {
  RecordingSink sink;
  absl::StatusOr<RunResult> result =
      RunJob(D1Spec(3, "gd", 0.1), &sink, [&sink]() { return sink.last_step >= 4; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCancelled);
  EXPECT_EQ(result->steps_done, 4);
  ASSERT_EQ(sink.evals.size(), 1u);
}

TEST(RunJobTest, DivergenceInFloat32) {
  // Features of 1e17: after one GD step of lr 1e6 the logits exceed float32's range.
  const std::string path = ::testing::TempDir() + "/run_job_test_diverge.csv";
  std::ofstream(path) << "a,b,label\n1e17,-1e17,0\n-1e17,1e17,1\n";
  JobSpec spec = D1Spec(3, "gd", 1e6);
  spec.dataset.name = "csv";
  spec.dataset.params = {{"train_path", path}};
  spec.trainer.eval_every = 1;
  RecordingSink sink;
  absl::StatusOr<RunResult> result = RunJob(spec, &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kDiverged);
  EXPECT_EQ(result->steps_done, 1);
  EXPECT_THAT(result->message, HasSubstr("diverged"));
  ASSERT_EQ(sink.evals.size(), 1u);
  EXPECT_TRUE(std::isfinite(sink.evals[0].splits[0].loss));
}

TEST(RunJobTest, EstimatesPeakMemory) {
  // D1, m = 8, Adam: X is 2048 x 2304 floats; W (255 x 2304) + b has value, grad, m and v.
  const JobSpec spec = D1Spec(8, "adam", 1e-3);
  absl::StatusOr<int64_t> bytes = EstimatePeakMemoryBytes(spec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const int64_t data = int64_t{2048} * 2304 * 4 + 2048 * 4;
  const int64_t params = (int64_t{255} * 2304 + 255) * 4 * 4;
  const int64_t logits = int64_t{2048} * 255 * 4;
  EXPECT_GE(*bytes, data + params + logits);
  EXPECT_LE(*bytes, (data + params + logits) * 101 / 100);
  absl::StatusOr<int64_t> gd = EstimatePeakMemoryBytes(D1Spec(8, "gd", 0.1));
  ASSERT_TRUE(gd.ok());
  EXPECT_EQ(*bytes - *gd, (int64_t{255} * 2304 + 255) * 4 * 2);  // Adam's m and v.
  const std::string path = ::testing::TempDir() + "/run_job_test_estimate.csv";
  std::ofstream(path) << "a,b,label\n1,2,0\n3,4,9\n";
  JobSpec csv = D1Spec(3, "gd", 0.1);
  csv.dataset.name = "csv";
  csv.dataset.params = {{"train_path", path}};
  absl::StatusOr<int64_t> csv_bytes = EstimatePeakMemoryBytes(csv);
  ASSERT_TRUE(csv_bytes.ok()) << csv_bytes.status();
  EXPECT_GE(*csv_bytes, 2 * 2 * 4 + 2 * (10 * 2 + 10) * 4);
  csv.dataset.params["train_path"] = std::string("/nonexistent.csv");
  EXPECT_EQ(EstimatePeakMemoryBytes(csv).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace optbench::engine
