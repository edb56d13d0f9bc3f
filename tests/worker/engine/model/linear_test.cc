#include "worker/engine/model/linear.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

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

// Mean cross-entropy of the model on the problem (the function whose gradient is checked).
double MeanLoss(LinearModel* model, const Problem& p) {
  Matrix logits(p.x.rows(), model->num_outputs());
  model->Forward(p.x, logits);
  return SoftmaxCrossEntropy(logits, p.labels.data(), 0.0, nullptr) /
         static_cast<double>(p.x.rows());
}

// Central finite differences of MeanLoss against the model's analytic gradient, every entry of
// every slot (ggml-style per-op check; float64, h = 1e-6 gives ~1e-10 truncation error).
void CheckGradient(bool bias) {
  const Problem p = MakeProblem();
  LinearModel model(5, 4, bias, LinearInit::kUniform, /*seed=*/3);
  model.ZeroGrad();
  Matrix logits(p.x.rows(), 4);
  model.Forward(p.x, logits);
  SoftmaxCrossEntropy(logits, p.labels.data(), 1.0 / 7.0, nullptr);
  model.Backward(logits);
  const double h = 1e-6;
  for (const ParamSlot& slot : model.Params()) {
    for (Eigen::Index i = 0; i < slot.value->size(); ++i) {
      const double saved = slot.value->data()[i];
      slot.value->data()[i] = saved + h;
      const double plus = MeanLoss(&model, p);
      slot.value->data()[i] = saved - h;
      const double minus = MeanLoss(&model, p);
      slot.value->data()[i] = saved;
      const double numeric = (plus - minus) / (2 * h);
      EXPECT_NEAR(slot.grad->data()[i], numeric, 1e-8 + 1e-6 * std::fabs(numeric))
          << slot.id << "[" << i << "]";
    }
  }
}

TEST(LinearModelTest, GradientMatchesFiniteDifferencesWithBias) { CheckGradient(true); }

TEST(LinearModelTest, GradientMatchesFiniteDifferencesWithoutBias) { CheckGradient(false); }

TEST(LinearModelTest, AbsentClassStillGetsTheSoftmaxGradient) {
  // Class 3 has no example: its row's gradient is (1/n) sum_i p_i3 x_i, not zero.
  const Problem p = MakeProblem();
  LinearModel model(5, 4, true, LinearInit::kUniform, 3);
  model.ZeroGrad();
  Matrix logits(7, 4);
  model.Forward(p.x, logits);
  SoftmaxCrossEntropy(logits, p.labels.data(), 1.0 / 7.0, nullptr);
  model.Backward(logits);
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
