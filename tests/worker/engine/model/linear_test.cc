#include "worker/engine/model/linear.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::CheckModelGradient;
using ::optbench::testing::CheckModelInputGradient;
using ::optbench::testing::GradientTolerance;
using ::optbench::testing::MeanCrossEntropyGradient;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

// A small problem: 7 examples, 5 features, 4 classes; class 3 has no example.
struct Problem {
  Matrix x;
  std::vector<int32_t> labels = {0, 1, 2, 0, 1, 0, 2};
};

Problem MakeProblem() {
  Problem p;
  Rng rng(1);
  p.x.resize(7, 5);
  for (Eigen::Index i = 0; i < p.x.size(); ++i) p.x.data()[i] = 2 * rng.Uniform() - 1;
  return p;
}

// Float64 central differences with h = 1e-6 have ~1e-10 truncation error.
constexpr GradientTolerance kLinearTolerance{/*step=*/1e-6, /*abs_tol=*/1e-8, /*rel_tol=*/1e-6};

// Every entry of every slot against central differences of the mean cross-entropy.
void CheckGradient(bool bias) {
  const Problem p = MakeProblem();
  LinearModel model(5, 4, bias, LinearInit::kUniform, /*seed=*/3);
  EXPECT_EQ(CheckModelGradient(&model, p.x, p.labels, kLinearTolerance).entries_checked,
            bias ? 4 * 5 + 4 : 4 * 5);
}

TEST(LinearModelTest, GradientMatchesFiniteDifferencesWithBias) { CheckGradient(true); }

TEST(LinearModelTest, GradientMatchesFiniteDifferencesWithoutBias) { CheckGradient(false); }

TEST(LinearModelTest, InputGradientMatchesFiniteDifferences) {
  const Problem p = MakeProblem();
  for (bool bias : {true, false}) {
    LinearModel model(5, 4, bias, LinearInit::kUniform, /*seed=*/3);
    const auto r = CheckModelInputGradient(&model, p.x, p.labels, kLinearTolerance);
    EXPECT_EQ(r.entries_checked, 7 * 5);
    EXPECT_GT(r.max_abs_numeric, 1e-3);  // Not vacuous.
  }
}

TEST(LinearModelTest, InputGradientIsDlogitsTimesW) {
  const Problem p = MakeProblem();
  LinearModel model(5, 4, true, LinearInit::kUniform, 3);
  Matrix logits(7, 4);
  model.Forward(p.x, logits);
  Rng rng(9);
  Matrix dlogits(7, 4);
  for (Eigen::Index i = 0; i < dlogits.size(); ++i) dlogits.data()[i] = rng.Normal();
  Matrix dx(7, 5);
  ASSERT_TRUE(model.InputGradient(dlogits, dx));
  EXPECT_TRUE(dx.isApprox(dlogits * model.weight(), 1e-14));
}

TEST(LinearModelTest, AbsentClassStillGetsTheSoftmaxGradient) {
  // Class 3 has no example: its row's gradient is (1/n) sum_i p_i3 x_i, not zero.
  const Problem p = MakeProblem();
  LinearModel model(5, 4, true, LinearInit::kUniform, 3);
  MeanCrossEntropyGradient(&model, p.x, p.labels);
  EXPECT_GT(model.Params()[0].grad->row(3).norm(), 1e-3);
  EXPECT_GT((*model.Params()[1].grad)(3, 0), 0.0);  // Pushes the absent class's bias down.
}

TEST(LinearModelTest, SlotsHaveStableIdsAndShapes) {
  LinearModel with_bias(5, 4, true, LinearInit::kZeros, 0);
  std::vector<ParamSlot> slots = with_bias.Params();
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots[0].id, "weight");
  EXPECT_EQ(slots[0].value->rows(), 4);
  EXPECT_EQ(slots[0].value->cols(), 5);
  EXPECT_EQ(slots[1].id, "bias");
  EXPECT_EQ(slots[1].value->rows(), 4);
  EXPECT_EQ(slots[1].value->cols(), 1);
  EXPECT_EQ(slots[0].value, with_bias.Params()[0].value);  // Same pointers every call.
  LinearModel no_bias(5, 4, false, LinearInit::kZeros, 0);
  ASSERT_EQ(no_bias.Params().size(), 1u);
}

TEST(LinearModelTest, InitIsZerosOrSeededUniform) {
  LinearModel zeros(16, 3, true, LinearInit::kZeros, 0);
  EXPECT_TRUE(zeros.weight().isZero(0));
  EXPECT_TRUE(zeros.bias().isZero(0));
  LinearModel a(16, 3, true, LinearInit::kUniform, 7);
  LinearModel b(16, 3, true, LinearInit::kUniform, 7);
  LinearModel c(16, 3, true, LinearInit::kUniform, 8);
  EXPECT_EQ(a.weight(), b.weight());
  EXPECT_EQ(a.bias(), b.bias());
  EXPECT_NE(a.weight(), c.weight());
  EXPECT_LE(a.weight().cwiseAbs().maxCoeff(), 0.25);  // 1/sqrt(16).
  EXPECT_LE(a.bias().cwiseAbs().maxCoeff(), 0.25);
  EXPECT_GT(a.weight().cwiseAbs().maxCoeff(), 0.15);
}

TEST(LinearModelTest, GradientsAccumulateOverChunks) {
  const Problem p = MakeProblem();
  LinearModel model(5, 4, true, LinearInit::kUniform, 3);
  auto gradient = [&](Eigen::Index chunk) {
    model.ZeroGrad();
    for (Eigen::Index start = 0; start < 7; start += chunk) {
      const Eigen::Index rows = std::min<Eigen::Index>(chunk, 7 - start);
      Matrix logits(rows, 4);
      model.Forward(p.x.middleRows(start, rows), logits);
      SoftmaxCrossEntropy(logits, p.labels.data() + start, 1.0 / 7.0, nullptr);
      model.Backward(logits);
    }
    return std::make_pair(Matrix(*model.Params()[0].grad), Matrix(*model.Params()[1].grad));
  };
  const auto whole = gradient(7);
  const auto chunked = gradient(3);
  EXPECT_TRUE(whole.first.isApprox(chunked.first, 1e-14));
  EXPECT_TRUE(whole.second.isApprox(chunked.second, 1e-14));
}

}  // namespace
}  // namespace optbench::engine
