#include "worker/engine/trainer.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"
#include "worker/engine/dataset/zipf_gaussian.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/optimizer/adam.h"
#include "worker/engine/optimizer/gd.h"

namespace optbench::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

TrainerSpec Spec(int64_t steps, int64_t eval_every = 1, int64_t batch_size = 0) {
  TrainerSpec spec;
  spec.steps = steps;
  spec.eval_every = eval_every;
  spec.batch_size = batch_size;
  return spec;
}

// Runs a trainer and records what it reports.
struct Recorder {
  std::vector<int64_t> steps;
  std::vector<ClassStats> train;
  std::vector<double> grad_norms;
  TrainerCallbacks Callbacks() {
    TrainerCallbacks cb;
    cb.on_evaluation = [this](const TrainerEvaluation& e) {
      steps.push_back(e.step);
      train.push_back(*e.train);
      grad_norms.push_back(e.grad_norm);
      return absl::OkStatus();
    };
    return cb;
  }
};

TEST(TrainerTest, FullBatchGradientIsTheSameForAnyChunkSize) {
  const Dataset data = MakeHeavyTailUniform(4, 0);  // 64 examples, 80 features, 15 classes.
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kUniform, 1);
  GradientDescent gd(0);
  auto gradient = [&](int64_t chunk_rows, ClassStats* stats) {
    TrainerSpec spec = Spec(1);
    spec.chunk_rows = chunk_rows;
    Trainer trainer(spec, 0.1, &data, &model, &gd, 0);
    stats->Reset(data.num_classes());
    const double loss = trainer.FullBatchGradient(stats);
    std::vector<Matrix> grads;
    for (const ParamSlot& slot : model.Params()) grads.push_back(*slot.grad);
    return std::make_pair(loss, grads);
  };
  ClassStats whole_stats, chunked_stats;
  const auto whole = gradient(4096, &whole_stats);
  const auto chunked = gradient(7, &chunked_stats);  // 9 full chunks and one of 1 row.
  EXPECT_NEAR(whole.first, chunked.first, 1e-13);
  for (size_t s = 0; s < whole.second.size(); ++s) {
    EXPECT_TRUE(whole.second[s].isApprox(chunked.second[s], 1e-13)) << s;
  }
  EXPECT_EQ(whole_stats.correct, chunked_stats.correct);
  for (int k = 0; k < 15; ++k)
    EXPECT_NEAR(whole_stats.loss_sum[k], chunked_stats.loss_sum[k], 1e-12);

  // And it is the closed form (1/n) (P - Y)^T X of ALGORITHMS.md 1.4, computed here directly.
  const Matrix& x = data.train().features;
  Matrix logits = x * model.weight().transpose();
  logits.rowwise() += model.bias().col(0).transpose();
  Matrix residual(64, 15);
  for (int i = 0; i < 64; ++i) {
    const double max = logits.row(i).maxCoeff();
    const double z = (logits.row(i).array() - max).exp().sum();
    for (int j = 0; j < 15; ++j) {
      residual(i, j) = std::exp(logits(i, j) - max) / z - (data.train().labels[i] == j);
    }
  }
  EXPECT_TRUE(chunked.second[0].isApprox(residual.transpose() * x / 64.0, 1e-12));
}

// A model that records the data pointers of the chunks it is given.
class RecordingModel : public Model {
 public:
  RecordingModel(int64_t d, int64_t c) : inner_(d, c, true, LinearInit::kZeros, 0) {}
  int64_t num_inputs() const override { return inner_.num_inputs(); }
  int64_t num_outputs() const override { return inner_.num_outputs(); }
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override {
    chunk_data.push_back(x.data());
    inner_.Forward(x, logits);
  }
  void Backward(const ConstMatrixRef& dlogits) override { inner_.Backward(dlogits); }
  std::vector<ParamSlot> Params() override { return inner_.Params(); }
  void ZeroGrad() override { inner_.ZeroGrad(); }
  std::vector<const Real*> chunk_data;

 private:
  LinearModel inner_;
};

TEST(TrainerTest, ChunksAreViewsIntoTheDataNotCopies) {
  const Dataset data = MakeHeavyTailUniform(3, 0);  // 24 rows.
  RecordingModel model(data.num_features(), data.num_classes());
  GradientDescent gd(0);
  TrainerSpec spec = Spec(1);
  spec.chunk_rows = 10;
  Trainer trainer(spec, 0.1, &data, &model, &gd, 0);
  trainer.FullBatchGradient(nullptr);
  const Real* base = data.train().features.data();
  const int64_t d = data.num_features();
  EXPECT_THAT(model.chunk_data, ElementsAre(base, base + 10 * d, base + 20 * d));
}

TEST(TrainerTest, EvaluationSchedule) {
  std::vector<int64_t> steps;
  TrainerSpec spec = Spec(25, 10);
  for (int64_t t = 0; t <= 25; ++t) {
    if (IsEvaluationStep(spec, t)) steps.push_back(t);
  }
  EXPECT_THAT(steps, ElementsAre(0, 10, 20, 25));
  steps.clear();
  spec = Spec(120, 1000);
  spec.eval_log_spaced = true;
  for (int64_t t = 0; t <= 120; ++t) {
    if (IsEvaluationStep(spec, t)) steps.push_back(t);
  }
  EXPECT_THAT(steps, ElementsAre(0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 120));

  // Run reports exactly those steps.
  const Dataset data = MakeHeavyTailUniform(2, 0);
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kZeros, 0);
  GradientDescent gd(0);
  spec = Spec(12, 5);
  spec.eval_log_spaced = true;
  Trainer trainer(spec, 0.1, &data, &model, &gd, 0);
  Recorder rec;
  absl::StatusOr<RunResult> result = trainer.Run(rec.Callbacks());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
  EXPECT_EQ(result->steps_done, 12);
  EXPECT_THAT(rec.steps, ElementsAre(0, 1, 2, 3, 4, 5, 10, 12));
}

TEST(TrainerTest, EvaluationAtStepTReportsTheParametersAfterTSteps) {
  const Dataset data = MakeHeavyTailUniform(3, 2);
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kZeros, 0);
  GradientDescent gd(0);
  Trainer trainer(Spec(2), 0.5, &data, &model, &gd, 0);
  Recorder rec;
  ASSERT_TRUE(trainer.Run(rec.Callbacks()).ok());
  ASSERT_EQ(rec.steps.size(), 3u);
  // Step 0: zero weights, every example's loss is log c exactly.
  for (int k = 0; k < 7; ++k) {
    EXPECT_DOUBLE_EQ(rec.train[0].loss_sum[k], rec.train[0].count[k] * std::log(7.0));
  }
  // Step 1: redo one GD step by hand on a fresh model and evaluate it.
  LinearModel fresh(data.num_features(), data.num_classes(), true, LinearInit::kZeros, 0);
  GradientDescent fresh_gd(0);
  Trainer helper(Spec(1), 0.5, &data, &fresh, &fresh_gd, 0);
  helper.FullBatchGradient(nullptr);
  EXPECT_NEAR(helper.GradNorm(), rec.grad_norms[0], 1e-14);
  for (const ParamSlot& slot : fresh.Params()) *slot.value -= 0.5 * *slot.grad;
  ClassStats after_one;
  after_one.Reset(7);
  helper.FullBatchGradient(&after_one);
  for (int k = 0; k < 7; ++k) EXPECT_NEAR(after_one.loss_sum[k], rec.train[1].loss_sum[k], 1e-12);
  EXPECT_NEAR(helper.GradNorm(), rec.grad_norms[1], 1e-12);
  EXPECT_LT(rec.train[2].TotalLoss(), rec.train[0].TotalLoss());
}

TEST(TrainerTest, DivergenceStopsAndKeepsEarlierEvaluations) {
  // Features of 1e150 and lr 1e9: the first step moves the weights so far that the next logits
  // overflow to infinity and the loss is NaN.
  DataSplit split;
  split.features.resize(2, 2);
  split.features << 1e150, -1e150, -1e150, 1e150;
  split.labels = {0, 1};
  const Dataset data(2, std::move(split), std::nullopt);
  LinearModel model(2, 2, true, LinearInit::kZeros, 0);
  GradientDescent gd(0);
  Trainer trainer(Spec(10), 1e9, &data, &model, &gd, 0);
  Recorder rec;
  absl::StatusOr<RunResult> result = trainer.Run(rec.Callbacks());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kDiverged);
  EXPECT_EQ(result->steps_done, 1);
  EXPECT_THAT(result->message, HasSubstr("diverged: training loss is"));
  EXPECT_THAT(result->message, HasSubstr("after 1 steps"));
  EXPECT_THAT(result->message, HasSubstr("last evaluation reported: step 0"));
  EXPECT_THAT(rec.steps, ElementsAre(0));  // The NaN evaluation is not reported.
  for (double loss : rec.train[0].loss_sum) EXPECT_TRUE(std::isfinite(loss));
}

TEST(TrainerTest, CancellationIsPolledBeforeEachStep) {
  const Dataset data = MakeHeavyTailUniform(2, 0);
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kZeros, 0);
  GradientDescent gd(0);
  Trainer trainer(Spec(100), 0.1, &data, &model, &gd, 0);
  Recorder rec;
  TrainerCallbacks cb = rec.Callbacks();
  int64_t steps_seen = 0;
  cb.on_step = [&](int64_t step) { steps_seen = step; };
  cb.should_stop = [&]() { return steps_seen >= 3; };
  absl::StatusOr<RunResult> result = trainer.Run(cb);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCancelled);
  EXPECT_EQ(result->steps_done, 3);
  EXPECT_EQ(gd.state().step, 3);
  EXPECT_THAT(rec.steps, ElementsAre(0, 1, 2));
}

TEST(TrainerTest, SinkErrorStopsTraining) {
  const Dataset data = MakeHeavyTailUniform(2, 0);
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kZeros, 0);
  GradientDescent gd(0);
  Trainer trainer(Spec(100), 0.1, &data, &model, &gd, 0);
  TrainerCallbacks cb;
  cb.on_evaluation = [](const TrainerEvaluation& e) {
    return e.step == 2 ? absl::UnavailableError("lease lost") : absl::OkStatus();
  };
  absl::StatusOr<RunResult> result = trainer.Run(cb);
  EXPECT_EQ(result.status(), absl::UnavailableError("lease lost"));
  EXPECT_EQ(gd.state().step, 2);
}

TEST(TrainerTest, MiniBatchRunsAreDeterministicPerSeed) {
  ZipfGaussianOptions options;
  options.classes = 8;
  options.min_samples = 3;
  const Dataset data = MakeZipfGaussian(options);
  auto run = [&](uint64_t seed) {
    LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kUniform, 4);
    Adam adam(AdamOptions{});
    Trainer trainer(Spec(30, 10, /*batch_size=*/16), 0.01, &data, &model, &adam, seed);
    Recorder rec;
    EXPECT_TRUE(trainer.Run(rec.Callbacks()).ok());
    return std::make_pair(rec, Matrix(model.weight()));
  };
  const auto a = run(1), b = run(1), c = run(2);
  EXPECT_EQ(a.second, b.second);  // Bit-identical.
  EXPECT_EQ(a.first.grad_norms, b.first.grad_norms);
  EXPECT_EQ(a.first.train.back().loss_sum, b.first.train.back().loss_sum);
  EXPECT_NE(a.second, c.second);  // Another seed samples other batches.
  EXPECT_THAT(a.first.steps, ElementsAre(0, 10, 20, 30));
}

TEST(TrainerTest, WholeDataMiniBatchEqualsFullBatchGradient) {
  const Dataset data = MakeHeavyTailUniform(3, 1);
  LinearModel model(data.num_features(), data.num_classes(), true, LinearInit::kUniform, 2);
  GradientDescent gd(0);
  TrainerSpec spec = Spec(1, 1, /*batch_size=*/24);
  spec.chunk_rows = 5;
  Trainer trainer(spec, 0.1, &data, &model, &gd, 0);
  const double full = trainer.FullBatchGradient(nullptr);
  const Matrix full_grad = *model.Params()[0].grad;
  const double batch = trainer.MiniBatchGradient();  // One batch = a permutation of all rows.
  EXPECT_NEAR(batch, full, 1e-13);
  EXPECT_TRUE(model.Params()[0].grad->isApprox(full_grad, 1e-12));
}

TEST(EpochSamplerTest, EachEpochIsAPermutation) {
  EpochSampler sampler(10, 3);
  std::vector<int64_t> sizes;
  std::vector<int64_t> first_epoch;
  for (int b = 0; b < 3; ++b) {
    absl::Span<const int64_t> batch = sampler.Next(4);
    sizes.push_back(static_cast<int64_t>(batch.size()));
    first_epoch.insert(first_epoch.end(), batch.begin(), batch.end());
  }
  EXPECT_THAT(sizes, ElementsAre(4, 4, 2));  // The last batch of an epoch is shorter.
  EXPECT_EQ(std::set<int64_t>(first_epoch.begin(), first_epoch.end()).size(), 10u);
  std::vector<int64_t> second_epoch;
  for (int b = 0; b < 3; ++b) {
    absl::Span<const int64_t> batch = sampler.Next(4);
    second_epoch.insert(second_epoch.end(), batch.begin(), batch.end());
  }
  EXPECT_EQ(std::set<int64_t>(second_epoch.begin(), second_epoch.end()).size(), 10u);
  EXPECT_NE(first_epoch, second_epoch);
  std::vector<int64_t> identity(10);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(first_epoch, identity);
}

}  // namespace
}  // namespace optbench::engine
