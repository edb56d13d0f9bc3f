#include "worker/engine/model/mlp.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::CheckModelGradient;
using ::optbench::testing::CheckModelInputGradient;
using ::optbench::testing::GradientTolerance;
using ::optbench::testing::MeanCrossEntropy;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

constexpr int64_t kRows = 7, kFeatures = 5, kClasses = 4;
const std::vector<int32_t> kLabels = {0, 1, 2, 0, 1, 0, 2};  // Class 3 has no example.

Matrix Inputs() {
  Rng rng(1);
  Matrix x(kRows, kFeatures);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = 2 * rng.Uniform() - 1;
  return x;
}

MlpOptions Options(std::vector<int64_t> hidden, bool bias) {
  MlpOptions o;
  o.num_inputs = kFeatures;
  o.hidden = std::move(hidden);
  o.num_classes = kClasses;
  o.bias = bias;
  return o;
}

constexpr GradientTolerance kMlpTolerance{/*step=*/1e-6, /*abs_tol=*/1e-8, /*rel_tol=*/1e-6};

// Central differences of the mean loss against the analytic gradient, every entry of every slot.
void CheckGradient(const MlpOptions& options) {
  MlpModel model(options, /*seed=*/3);
  const int64_t checked =
      CheckModelGradient(&model, Inputs(), kLabels, kMlpTolerance).entries_checked;
  int64_t expected = 0, in = kFeatures;
  for (int64_t w : options.hidden) {
    expected += w * (in + (options.bias ? 1 : 0));
    in = w;
  }
  expected += kClasses * (in + (options.bias ? 1 : 0));
  EXPECT_EQ(checked, expected);
}

TEST(MlpModelTest, GradientMatchesFiniteDifferencesWithoutHiddenLayers) {
  CheckGradient(Options({}, true));
}
TEST(MlpModelTest, GradientMatchesFiniteDifferencesOneHiddenLayer) {
  CheckGradient(Options({6}, true));
}
TEST(MlpModelTest, GradientMatchesFiniteDifferencesTwoHiddenLayers) {
  CheckGradient(Options({6, 3}, true));
}
TEST(MlpModelTest, GradientMatchesFiniteDifferencesThreeHiddenLayersNoBias) {
  CheckGradient(Options({4, 5, 3}, false));
}
TEST(MlpModelTest, GradientMatchesFiniteDifferencesXavier) {
  MlpOptions o = Options({6, 3}, true);
  o.init = DenseInit::kXavierUniform;
  CheckGradient(o);
}

TEST(MlpModelTest, InputGradientMatchesFiniteDifferences) {
  const std::vector<MlpOptions> shapes = {Options({}, true), Options({6}, true),
                                          Options({6, 3}, true), Options({4, 5, 3}, false)};
  for (const MlpOptions& options : shapes) {
    MlpModel model(options, /*seed=*/3);
    const auto r = CheckModelInputGradient(&model, Inputs(), kLabels, kMlpTolerance);
    EXPECT_EQ(r.entries_checked, kRows * kFeatures) << options.hidden.size() << " hidden layers";
    EXPECT_GT(r.max_abs_numeric, 1e-4) << options.hidden.size() << " hidden layers";
  }
}

TEST(MlpModelTest, InputGradientOfAChunkSmallerThanTheBuffers) {
  // The buffers grow to the largest chunk; a later, shorter chunk must use only its rows.
  MlpModel model(Options({6, 3}, true), 3);
  const Matrix x = Inputs();
  Matrix logits(kRows, kClasses);
  model.Forward(x, logits);
  const Matrix tail = x.bottomRows(3);
  const std::vector<int32_t> tail_labels(kLabels.end() - 3, kLabels.end());
  const auto r = CheckModelInputGradient(&model, tail, tail_labels, kMlpTolerance);
  EXPECT_EQ(r.entries_checked, 3 * kFeatures);
}

TEST(MlpModelTest, ForwardMatchesLayerByLayerReference) {
  const Matrix x = Inputs();
  MlpModel model(Options({6, 3}, true), 5);
  Matrix logits(kRows, kClasses);
  model.Forward(x, logits);
  Matrix a = x;
  for (int64_t l = 0; l < 3; ++l) {
    Matrix z = a * model.weight(l).transpose();
    for (Eigen::Index i = 0; i < z.rows(); ++i) z.row(i) += model.bias(l).col(0).transpose();
    if (l < 2) z = z.cwiseMax(0.0);
    a = z;
  }
  EXPECT_TRUE(logits.isApprox(a, 1e-14));
  ASSERT_TRUE(model.HeadInput().has_value());
  EXPECT_EQ(model.HeadInput()->cols(), 3);
}

TEST(MlpModelTest, WithoutHiddenLayersItIsTheLinearModelAndHeadInputIsX) {
  const Matrix x = Inputs();
  MlpModel mlp(Options({}, true), 3);
  Matrix a(kRows, kClasses), b(kRows, kClasses);
  mlp.Forward(x, a);
  LinearModel linear(kFeatures, kClasses, true, LinearInit::kUniform, 3);
  linear.Forward(x, b);
  // Same draws (weight row by row, then bias, from the init stream) give the same model.
  EXPECT_TRUE(a.isApprox(b, 1e-15));
  ASSERT_TRUE(mlp.HeadInput().has_value());
  EXPECT_EQ(Matrix(*mlp.HeadInput()), x);
}

TEST(MlpModelTest, SlotsHaveIdsRolesAndShapes) {
  MlpModel model(Options({6, 3}, true), 0);
  const std::vector<ParamSlot> slots = model.Params();
  ASSERT_EQ(slots.size(), 6u);
  EXPECT_EQ(slots[0].id, "layer0.weight");
  EXPECT_EQ(slots[0].role, ParamRole::kHiddenMatrix);
  EXPECT_EQ(slots[0].value->rows(), 6);
  EXPECT_EQ(slots[0].value->cols(), kFeatures);
  EXPECT_EQ(slots[1].id, "layer0.bias");
  EXPECT_EQ(slots[1].role, ParamRole::kVector);
  EXPECT_EQ(slots[2].role, ParamRole::kHiddenMatrix);
  EXPECT_EQ(slots[4].id, "layer2.weight");
  EXPECT_EQ(slots[4].role, ParamRole::kOutputHead);
  EXPECT_EQ(slots[4].value->rows(), kClasses);
  EXPECT_EQ(slots[4].value->cols(), 3);
  EXPECT_EQ(slots[0].value, model.Params()[0].value);
  EXPECT_EQ(MlpModel(Options({}, false), 0).Params().size(), 1u);
}

TEST(MlpModelTest, ZeroHeadStartsAtLogC) {
  MlpOptions o = Options({6}, true);
  o.zero_head = true;
  MlpModel model(o, 1);
  EXPECT_NEAR(MeanCrossEntropy(&model, Inputs(), kLabels), std::log(static_cast<double>(kClasses)),
              1e-15);
  EXPECT_FALSE(model.weight(0).isZero(0));
}

TEST(MlpModelTest, GradientsAccumulateOverChunksOfAnySize) {
  const Matrix x = Inputs();
  MlpModel model(Options({6, 3}, true), 3);
  auto gradient = [&](Eigen::Index chunk) {
    model.ZeroGrad();
    for (Eigen::Index start = 0; start < kRows; start += chunk) {
      const Eigen::Index rows = std::min<Eigen::Index>(chunk, kRows - start);
      Matrix logits(rows, kClasses);
      model.Forward(x.middleRows(start, rows), logits);
      SoftmaxCrossEntropy(logits, kLabels.data() + start, 1.0 / kRows, nullptr);
      model.Backward(logits);
    }
    std::vector<Matrix> grads;
    for (const ParamSlot& slot : model.Params()) grads.push_back(*slot.grad);
    return grads;
  };
  const std::vector<Matrix> whole = gradient(7);
  const std::vector<Matrix> chunked = gradient(3);  // 3, 3, then a shorter chunk of 1.
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_TRUE(whole[i].isApprox(chunked[i], 1e-13));
}

}  // namespace
}  // namespace optbench::engine
