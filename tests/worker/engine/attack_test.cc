#include "worker/engine/attack.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/model/mlp.h"
#include "worker/engine/objective/cross_entropy.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

constexpr int64_t kRows = 24, kFeatures = 6, kClasses = 3;

Matrix Inputs(uint64_t seed = 1) {
  Rng rng(seed);
  Matrix x(kRows, kFeatures);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.Uniform();
  return x;
}

std::vector<int32_t> Labels() {
  std::vector<int32_t> labels(kRows);
  for (int64_t i = 0; i < kRows; ++i) labels[i] = static_cast<int32_t>(i % kClasses);
  return labels;
}

MlpModel Mlp() {
  MlpOptions o;
  o.num_inputs = kFeatures;
  o.hidden = {8};
  o.num_classes = kClasses;
  return MlpModel(o, /*seed=*/3);
}

AttackOptions Fgsm(double epsilon) {
  AttackOptions o;
  o.method = AttackMethod::kFgsm;
  o.epsilon = epsilon;
  return o;
}

AttackOptions Pgd(double epsilon, int64_t steps, double step_size = 0) {
  AttackOptions o;
  o.method = AttackMethod::kPgd;
  o.epsilon = epsilon;
  o.steps = steps;
  o.step_size = step_size;
  return o;
}

// Summed cross-entropy of the model on (x, labels).
double Loss(Model* model, const Matrix& x, const std::vector<int32_t>& labels) {
  Matrix logits(x.rows(), model->num_outputs());
  model->Forward(x, logits);
  return SoftmaxCrossEntropy(logits, labels.data(), 0, nullptr);
}

Matrix Attack(const AttackOptions& options, Model* model, const Matrix& x,
              const std::vector<int32_t>& labels, uint64_t seed = 7) {
  CrossEntropy objective;
  Attacker attacker(options, model, &objective);
  Rng rng(seed, RngStream::kAttack);
  Matrix adv(x.rows(), x.cols());
  attacker.Perturb(x, labels.data(), &rng, adv);
  return adv;
}

TEST(AttackTest, PerturbationsStayInTheEpsilonBall) {
  MlpModel model = Mlp();
  const Matrix x = Inputs();
  const std::vector<int32_t> labels = Labels();
  // Step sizes from the default to far larger than the ball: the projection must hold them in.
  for (const AttackOptions& options :
       {Fgsm(0.1), Pgd(0.1, 1), Pgd(0.1, 10), Pgd(0.03, 20), Pgd(0.1, 5, /*step_size=*/1.0)}) {
    const Matrix adv = Attack(options, &model, x, labels);
    const double moved = (adv - x).cwiseAbs().maxCoeff();
    EXPECT_LE(moved, options.epsilon * (1 + 1e-12)) << AttackMethodName(options.method);
    EXPECT_GT(moved, options.epsilon / 2) << AttackMethodName(options.method);  // It moved.
  }
}

TEST(AttackTest, FgsmMovesEveryFeatureToACornerOfTheBall) {
  MlpModel model = Mlp();
  const Matrix x = Inputs();
  const Matrix adv = Attack(Fgsm(0.05), &model, x, Labels());
  // A ReLU network's input gradient may vanish in a feature only by cancellation: here none does.
  EXPECT_TRUE(((adv - x).cwiseAbs().array() - 0.05).abs().maxCoeff() < 1e-12);
}

TEST(AttackTest, ClipKeepsAttackedFeaturesInTheBox) {
  MlpModel model = Mlp();
  const Matrix x = Inputs();  // In [0, 1).
  for (AttackOptions options : {Fgsm(0.2), Pgd(0.2, 10)}) {
    options.clip = true;
    const Matrix adv = Attack(options, &model, x, Labels());
    EXPECT_GE(adv.minCoeff(), 0.0);
    EXPECT_LE(adv.maxCoeff(), 1.0);
    EXPECT_LE((adv - x).cwiseAbs().maxCoeff(), 0.2 * (1 + 1e-12));
    options.clip = false;
    const Matrix unclipped = Attack(options, &model, x, Labels());
    EXPECT_TRUE(unclipped.minCoeff() < 0 || unclipped.maxCoeff() > 1);  // Not vacuous.
  }
}

// For a binary linear model, d loss_i / d x_i = W^T (p_i - e_y) = p_{i,1-y} (w_{1-y} - w_y):
// its sign is sign(w_{1-y} - w_y) whatever x_i, so FGSM is x + epsilon sign(w_{1-y} - w_y).
TEST(AttackTest, FgsmOfABinaryLinearModelIsTheClosedForm) {
  LinearModel model(kFeatures, 2, true, LinearInit::kUniform, /*seed=*/5);
  const Matrix x = Inputs();
  std::vector<int32_t> labels(kRows);
  for (int64_t i = 0; i < kRows; ++i) labels[i] = static_cast<int32_t>(i % 2);
  const double eps = 0.1;
  const Matrix adv = Attack(Fgsm(eps), &model, x, labels);
  for (int64_t i = 0; i < kRows; ++i) {
    const int y = labels[i];
    for (int64_t j = 0; j < kFeatures; ++j) {
      const double d = model.weight()(1 - y, j) - model.weight()(y, j);
      ASSERT_NE(d, 0.0);
      EXPECT_EQ(adv(i, j), x(i, j) + (d > 0 ? eps : -eps)) << "row " << i << ", feature " << j;
    }
  }
  // The loss is monotone along that direction, so PGD (steps 2.5 epsilon in all) ends at the
  // same corner from any random start.
  EXPECT_EQ(Attack(Pgd(eps, 10), &model, x, labels), adv);
}

TEST(AttackTest, FgsmOfAMulticlassLinearModelFollowsTheGradientSign) {
  // With c > 2 classes the sign depends on x through p_i: sign(W^T (p_i - e_y)) by hand.
  LinearModel model(kFeatures, kClasses, true, LinearInit::kUniform, 5);
  const Matrix x = Inputs();
  const std::vector<int32_t> labels = Labels();
  const Matrix adv = Attack(Fgsm(0.1), &model, x, labels);
  Matrix logits(kRows, kClasses);
  model.Forward(x, logits);
  for (int64_t i = 0; i < kRows; ++i) {
    Eigen::RowVectorXd p = (logits.row(i).array() - logits.row(i).maxCoeff()).exp();
    p /= p.sum();
    p(labels[i]) -= 1;
    const Eigen::RowVectorXd grad = p * model.weight();
    for (int64_t j = 0; j < kFeatures; ++j) {
      EXPECT_EQ(adv(i, j), x(i, j) + (grad(j) > 0 ? 0.1 : -0.1));
    }
  }
}

TEST(AttackTest, PgdFindsAtLeastTheFgsmLoss) {
  MlpModel model = Mlp();
  const Matrix x = Inputs();
  const std::vector<int32_t> labels = Labels();
  const double clean = Loss(&model, x, labels);
  const double fgsm = Loss(&model, Attack(Fgsm(0.1), &model, x, labels), labels);
  const double pgd = Loss(&model, Attack(Pgd(0.1, 20), &model, x, labels), labels);
  EXPECT_GT(fgsm, clean);
  EXPECT_GE(pgd, fgsm);
}

TEST(AttackTest, SameSeedSamePerturbation) {
  MlpModel model = Mlp();
  const Matrix x = Inputs();
  const std::vector<int32_t> labels = Labels();
  const Matrix a = Attack(Pgd(0.1, 3), &model, x, labels, /*seed=*/11);
  const Matrix b = Attack(Pgd(0.1, 3), &model, x, labels, /*seed=*/11);
  const Matrix c = Attack(Pgd(0.1, 3), &model, x, labels, /*seed=*/12);
  EXPECT_EQ(a, b);  // Bit-identical.
  EXPECT_NE(a, c);  // The random start depends on the seed.
}

TEST(AttackTest, PerturbLeavesParameterGradientsAlone) {
  MlpModel model = Mlp();
  model.ZeroGrad();
  Attack(Pgd(0.1, 3), &model, Inputs(), Labels());
  for (const ParamSlot& slot : model.Params()) EXPECT_TRUE(slot.grad->isZero(0)) << slot.id;
}

TEST(AttackTest, AttackRngIsPerStepAndUse) {
  auto first = [](uint64_t seed, int64_t step, AttackUse use) {
    return AttackRng(seed, step, use).NextU64();
  };
  EXPECT_EQ(first(1, 5, AttackUse::kTraining), first(1, 5, AttackUse::kTraining));
  EXPECT_NE(first(1, 5, AttackUse::kTraining), first(1, 6, AttackUse::kTraining));
  EXPECT_NE(first(1, 5, AttackUse::kTraining), first(1, 5, AttackUse::kEvaluation));
  EXPECT_NE(first(1, 5, AttackUse::kTraining), first(2, 5, AttackUse::kTraining));
}

TEST(AttackTest, PgdStepSizeDefaultsToMadrysRule) {
  EXPECT_DOUBLE_EQ(PgdStepSize(Pgd(0.1, 10)), 0.025);
  EXPECT_DOUBLE_EQ(PgdStepSize(Pgd(0.1, 10, 0.5)), 0.5);
}

TEST(AttackTest, BadOptionsNameTheFieldAndValue) {
  EXPECT_THAT(CheckAttackOptions(Fgsm(-0.1), "trainer.attack_"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trainer.attack_epsilon: -0.1 is out of range; allowed > 0")));
  EXPECT_THAT(CheckAttackOptions(Fgsm(0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon: 0")));
  EXPECT_THAT(CheckAttackOptions(Fgsm(NAN)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckAttackOptions(Pgd(0.1, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("steps: 0")));
  EXPECT_THAT(CheckAttackOptions(Pgd(0.1, 5, -1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("step_size: -1")));
  AttackOptions box = Fgsm(0.1);
  box.clip = true;
  box.clip_min = 2;
  EXPECT_THAT(CheckAttackOptions(box),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("clip_min: 2")));
  EXPECT_TRUE(CheckAttackOptions(Fgsm(0.1)).ok());
  EXPECT_TRUE(CheckAttackOptions(Pgd(0.1, 1)).ok());
}

TEST(EvaluateRobustnessTest, CountsMatchTheAttacksChunkByChunk) {
  // Binary linear model: FGSM lowers each example's margin z_y - z_{1-y} by exactly
  // epsilon ||w_y - w_{1-y}||_1 (the closed form above), and PGD ends at the same point. An
  // example is robust when its margin exceeds that.
  LinearModel model(kFeatures, 2, true, LinearInit::kUniform, 5);
  DataSplit split;
  split.features = Inputs(2);
  for (int64_t i = 0; i < kRows; ++i) split.labels.push_back(static_cast<int32_t>(i % 2));
  Matrix logits(kRows, 2);
  model.Forward(split.features, logits);
  const double l1 = (model.weight().row(1) - model.weight().row(0)).cwiseAbs().sum();
  std::vector<double> margins;
  for (int64_t i = 0; i < kRows; ++i) {
    const int y = split.labels[i];
    margins.push_back(logits(i, y) - logits(i, 1 - y));
  }
  // Epsilon between the smallest and the largest positive margin's radius: the attack bites,
  // but not everywhere.
  double low = INFINITY, high = 0;
  for (double m : margins) {
    if (m <= 0) continue;
    low = std::min(low, m / l1);
    high = std::max(high, m / l1);
  }
  ASSERT_LT(low, high);
  const double eps = (low + high) / 2;
  std::vector<int64_t> count(2, 0), clean(2, 0), robust(2, 0);
  for (int64_t i = 0; i < kRows; ++i) {
    const int y = split.labels[i];
    ++count[y];
    // Argmax takes the lowest index on ties: class 0 wins a tie.
    clean[y] += margins[i] > 0 || (margins[i] == 0 && y == 0);
    robust[y] += margins[i] - eps * l1 > 0;
  }
  CrossEntropy objective;
  Rng rng(3, RngStream::kAttack);
  const RobustnessCounts counts = EvaluateRobustness(Fgsm(eps), Pgd(eps, 10), &model, &objective,
                                                     split, 2, /*chunk_rows=*/5, &rng);
  EXPECT_EQ(counts.count, count);
  EXPECT_EQ(counts.clean, clean);
  EXPECT_EQ(counts.fgsm, robust);
  EXPECT_EQ(counts.pgd, robust);
  EXPECT_GT(clean[0] + clean[1], robust[0] + robust[1]);
  EXPECT_GT(robust[0] + robust[1], 0);
}

}  // namespace
}  // namespace optbench::engine
