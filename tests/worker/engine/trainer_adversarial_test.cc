// The trainer's attack settings: adversarial training (FGSM, PGD) and the robustness evaluation.
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/optimizer/gd.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

constexpr int64_t kWeakFeatures = 10;

// A tiny separable binary problem with one robust feature and many weak ones (the setting of
// Tsipras et al. 2019): with s = +-1 the class sign, feature 0 is s (1 + 0.2 u) and features
// 1..10 are s (0.3 + 0.1 u). Clean training weighs the weak features about as the data's mean
// difference does, w ~ (1, 0.3, ..., 0.3), whose l_inf-robust margin 1.9 - 4 epsilon is gone at
// epsilon 0.6; a model on feature 0 alone keeps a margin of 0.4 there.
DataSplit RobustnessSplit(int64_t n, uint64_t seed) {
  Rng rng(seed);
  DataSplit split;
  split.features.resize(n, 1 + kWeakFeatures);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t y = static_cast<int32_t>(i % 2);
    const double s = y == 1 ? 1 : -1;
    split.features(i, 0) = s * (1 + 0.2 * rng.Uniform());
    for (int64_t j = 1; j <= kWeakFeatures; ++j) {
      split.features(i, j) = s * (0.3 + 0.1 * rng.Uniform());
    }
    split.labels.push_back(y);
  }
  return split;
}

Dataset RobustnessProblem() { return Dataset(2, RobustnessSplit(40, 1), RobustnessSplit(40, 2)); }

TrainerSpec Spec(int64_t steps, int64_t batch_size = 0) {
  TrainerSpec spec;
  spec.steps = steps;
  spec.eval_every = steps;
  spec.batch_size = batch_size;
  return spec;
}

// The last evaluation's clean, FGSM and PGD accuracy on `split`.
struct Accuracies {
  double clean = 0, fgsm = 0, pgd = 0;
};

double Fraction(const MetricBatch& batch, const char* metric, Split split, double n) {
  const MetricValue* v = batch.Find(metric, split);
  EXPECT_NE(v, nullptr) << metric;
  if (v == nullptr) return -1;
  return std::accumulate(v->values.begin(), v->values.end(), 0.0) / n;
}

// Trains a zero-initialized linear model with GD and returns the final test accuracies at
// epsilon 0.6, and the trained weights.
Accuracies Train(const Dataset& data, TrainerSpec spec, Matrix* weights = nullptr) {
  spec.attack_epsilon = 0.6;
  LinearModel model(data.num_features(), 2, true, LinearInit::kZeros, 0);
  GradientDescent gd(0);
  Trainer trainer(spec, 1.0, &data, &model, &gd, /*seed=*/3);
  Accuracies last;
  TrainerCallbacks cb;
  cb.on_evaluation = [&](const TrainerEvaluation& e) {
    const double n = static_cast<double>(data.test().size());
    last.clean = Fraction(*e.metrics, "correct", Split::kTest, n);
    last.fgsm = Fraction(*e.metrics, "correct_fgsm", Split::kTest, n);
    last.pgd = Fraction(*e.metrics, "correct_pgd", Split::kTest, n);
    EXPECT_NE(e.metrics->Find("correct_pgd", Split::kTrain), nullptr);
    return absl::OkStatus();
  };
  const absl::StatusOr<RunResult> result = trainer.Run(cb);
  EXPECT_TRUE(result.ok() && result->outcome == RunOutcome::kCompleted);
  if (weights != nullptr) *weights = model.weight();
  return last;
}

TEST(TrainerAdversarialTest, AdversarialTrainingBeatsCleanTrainingUnderPgd) {
  const Dataset data = RobustnessProblem();
  const Accuracies clean = Train(data, Spec(100));
  EXPECT_EQ(clean.clean, 1.0);
  EXPECT_EQ(clean.pgd, 0.0);  // Every weak feature flipped against the model.
  for (const char* method : {"fgsm", "pgd"}) {
    TrainerSpec spec = Spec(100);
    spec.adversarial = method;
    spec.adversarial_epsilon = 0.6;
    Matrix w;
    const Accuracies robust = Train(data, spec, &w);
    EXPECT_EQ(robust.clean, 1.0) << method;
    EXPECT_EQ(robust.pgd, 1.0) << method;
    EXPECT_EQ(robust.fgsm, 1.0) << method;
    // The robust feature carries the model: |w_1 - w_0| on it beats the weak ones together.
    const Eigen::RowVectorXd d = w.row(1) - w.row(0);
    EXPECT_GT(0.4 * d(0), 0.6 * d.tail(kWeakFeatures).cwiseAbs().sum()) << method;
  }
}

TEST(TrainerAdversarialTest, MiniBatchAdversarialTrainingAlsoBeatsCleanTraining) {
  const Dataset data = RobustnessProblem();
  TrainerSpec spec = Spec(200, /*batch_size=*/8);
  spec.adversarial = "pgd";
  spec.adversarial_epsilon = 0.6;
  spec.adversarial_steps = 3;
  EXPECT_EQ(Train(data, spec).pgd, 1.0);
  EXPECT_EQ(Train(data, Spec(200, 8)).pgd, 0.0);
}

TEST(TrainerAdversarialTest, ReportedTrainStatisticsAreTheCleanOnes) {
  const Dataset data = RobustnessProblem();
  TrainerSpec spec = Spec(3);
  spec.eval_every = 1;
  spec.adversarial = "fgsm";
  spec.adversarial_epsilon = 0.6;
  LinearModel model(data.num_features(), 2, true, LinearInit::kUniform, 1);
  GradientDescent gd(0);
  Trainer trainer(spec, 1.0, &data, &model, &gd, 0);
  std::vector<double> reported, clean;
  TrainerCallbacks cb;
  cb.on_evaluation = [&](const TrainerEvaluation& e) {
    reported.push_back(e.train->TotalLoss());
    ClassStats stats;
    stats.Reset(2);
    trainer.Evaluate(data.train(), &stats);
    clean.push_back(stats.TotalLoss());
    return absl::OkStatus();
  };
  ASSERT_TRUE(trainer.Run(cb).ok());
  ASSERT_EQ(reported.size(), 4u);
  EXPECT_EQ(reported, clean);
  // ... while the training loss (the step's) is the attacked one, which is larger.
  LinearModel again(data.num_features(), 2, true, LinearInit::kUniform, 1);
  Trainer attacked(spec, 1.0, &data, &again, &gd, 0);
  EXPECT_GT(attacked.FullBatchGradient(nullptr) * data.train().size(), clean[0]);
}

TEST(TrainerAdversarialTest, PgdTrainingIsDeterministicAndResumesBitIdentically) {
  const Dataset data = RobustnessProblem();
  TrainerSpec spec = Spec(10, /*batch_size=*/8);
  spec.adversarial = "pgd";
  spec.adversarial_epsilon = 0.3;
  spec.adversarial_steps = 4;
  auto run = [&](uint64_t seed) {
    LinearModel model(data.num_features(), 2, true, LinearInit::kUniform, 1);
    GradientDescent gd(0);
    Trainer trainer(spec, 0.5, &data, &model, &gd, seed);
    TrainerCallbacks cb;
    cb.on_evaluation = [](const TrainerEvaluation&) { return absl::OkStatus(); };
    EXPECT_TRUE(trainer.Run(cb).ok());
    return Matrix(model.weight());
  };
  const Matrix whole = run(5);
  EXPECT_EQ(whole, run(5));
  EXPECT_NE(whole, run(6));  // Other batches and random starts.

  // Stop after 4 steps, then resume in a new trainer from the same parameters.
  LinearModel model(data.num_features(), 2, true, LinearInit::kUniform, 1);
  GradientDescent gd(0);
  TrainerCallbacks cb;
  cb.on_evaluation = [](const TrainerEvaluation&) { return absl::OkStatus(); };
  int64_t steps_done = 0;
  cb.on_step = [&](int64_t step) { steps_done = step; };
  cb.should_stop = [&] { return steps_done >= 4; };
  {
    Trainer first(spec, 0.5, &data, &model, &gd, 5);
    ASSERT_EQ(first.Run(cb)->outcome, RunOutcome::kCancelled);
  }
  cb.should_stop = nullptr;
  Trainer second(spec, 0.5, &data, &model, &gd, 5);
  second.Resume(4, 0, OptimizerState{});
  ASSERT_EQ(second.Run(cb)->outcome, RunOutcome::kCompleted);
  EXPECT_EQ(Matrix(model.weight()), whole);
}

// Validation of the trainer's attack settings through the train task.
TrainJob AttackJob(const std::string& model) {
  TrainJob job;
  job.dataset.name = "heavy_tail_uniform";
  job.dataset.params["m"] = int64_t{2};
  job.model.name = model;
  job.optimizer.name = "gd";
  job.optimizer.params["lr"] = 0.1;
  job.trainer.steps = 5;
  return job;
}

TEST(AttackSettingsTest, AModelWithoutInputGradientIsRefusedNamingTheSettingAndModel) {
  TrainJob adversarial = AttackJob("cnn");
  adversarial.trainer.adversarial = "fgsm";
  adversarial.trainer.adversarial_epsilon = 0.1;
  EXPECT_THAT(testing::ValidateTrainJob(adversarial),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("trainer.adversarial: fgsm"), HasSubstr("model 'cnn'"),
                             HasSubstr("model linear"), HasSubstr("model mlp"))));
  TrainJob evaluated = AttackJob("cnn");
  evaluated.trainer.attack_epsilon = 0.03;
  EXPECT_THAT(testing::ValidateTrainJob(evaluated),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("trainer.attack_epsilon: 0.03"), HasSubstr("'cnn'"))));
  EXPECT_TRUE(testing::ValidateTrainJob(AttackJob("cnn")).ok());  // No attack: fine.
  for (const char* model : {"linear", "mlp"}) {
    adversarial.model.name = model;
    EXPECT_TRUE(testing::ValidateTrainJob(adversarial).ok()) << model;
  }
}

TEST(AttackSettingsTest, BadValuesNameTheSettingAndValue) {
  struct Case {
    void (*set)(TrainerSpec*);
    const char* message;
  };
  const Case cases[] = {
      {[](TrainerSpec* t) {
         t->adversarial = "fgsm";
         t->adversarial_epsilon = -0.1;
       },
       "trainer.adversarial_epsilon: -0.1"},
      {[](TrainerSpec* t) { t->adversarial = "pgd"; }, "trainer.adversarial_epsilon: 0"},
      {[](TrainerSpec* t) { t->adversarial_epsilon = 0.1; }, "trainer.adversarial_epsilon: 0.1"},
      {[](TrainerSpec* t) {
         t->adversarial = "pgd";
         t->adversarial_epsilon = 0.1;
         t->adversarial_steps = 0;
       },
       "trainer.adversarial_steps: 0"},
      {[](TrainerSpec* t) {
         t->adversarial = "pgd";
         t->adversarial_epsilon = 0.1;
         t->adversarial_step_size = -1;
       },
       "trainer.adversarial_step_size: -1"},
      {[](TrainerSpec* t) {
         t->adversarial = "fgsm";
         t->adversarial_epsilon = 0.1;
         t->adversarial_steps = 5;  // Only PGD reads it.
       },
       "trainer.adversarial_steps"},
      {[](TrainerSpec* t) { t->adversarial = "bim"; }, "trainer.adversarial: "},
      {[](TrainerSpec* t) { t->attack_epsilon = -1; }, "trainer.attack_epsilon: -1"},
      {[](TrainerSpec* t) {
         t->attack_epsilon = 0.1;
         t->attack_pgd_steps = 0;
       },
       "trainer.attack_pgd_steps: 0"},
      {[](TrainerSpec* t) { t->attack_pgd_steps = 5; }, "trainer.attack_pgd_steps: 5"},
  };
  for (const Case& c : cases) {
    TrainJob job = AttackJob("linear");
    c.set(&job.trainer);
    EXPECT_THAT(testing::ValidateTrainJob(job),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
}

}  // namespace
}  // namespace optbench::engine
