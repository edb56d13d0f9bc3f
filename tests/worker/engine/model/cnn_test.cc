#include "worker/engine/model/cnn.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::CheckModelGradient;
using ::optbench::testing::GradientTolerance;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

// Small but complete: two input channels, a non-square image with odd sizes (the pools round
// down), 3 and 4 channels, 3 classes, 5 examples.
CnnOptions SmallOptions() {
  CnnOptions o;
  o.height = 9;
  o.width = 6;
  o.in_channels = 2;
  o.channels1 = 3;
  o.channels2 = 4;
  o.num_classes = 3;
  return o;
}
const std::vector<int32_t> kLabels = {0, 1, 2, 0, 1};

Matrix Inputs(const CnnOptions& o, int64_t rows) {
  Rng rng(11);
  Matrix x(rows, o.height * o.width * o.in_channels);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = 2 * rng.Uniform() - 1;
  return x;
}

// Direct (loop) convolution, ReLU, max pool: an independent reference for one stage.
// image: in x h x w (flat), kernel: out x (in·5·5) in (in, kh, kw) order.
std::vector<double> ReferenceStage(const std::vector<double>& image, int64_t in, int64_t h,
                                   int64_t w, const Matrix& kernel, const Matrix& bias) {
  const int64_t out = kernel.rows();
  std::vector<double> conv(static_cast<size_t>(out * h * w));
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        double s = bias.size() > 0 ? bias(o, 0) : 0.0;
        for (int64_t c = 0; c < in; ++c) {
          for (int64_t i = 0; i < 5; ++i) {
            for (int64_t j = 0; j < 5; ++j) {
              const int64_t sy = y + i - 2, sx = x + j - 2;
              if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
              s += kernel(o, (c * 5 + i) * 5 + j) * image[(c * h + sy) * w + sx];
            }
          }
        }
        conv[(o * h + y) * w + x] = std::max(s, 0.0);
      }
    }
  }
  const int64_t ph = h / 2, pw = w / 2;
  std::vector<double> pooled(static_cast<size_t>(out * ph * pw));
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t y = 0; y < ph; ++y) {
      for (int64_t x = 0; x < pw; ++x) {
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t dy = 0; dy < 2; ++dy) {
          for (int64_t dx = 0; dx < 2; ++dx) {
            m = std::max(m, conv[(o * h + 2 * y + dy) * w + 2 * x + dx]);
          }
        }
        pooled[(o * ph + y) * pw + x] = m;
      }
    }
  }
  return pooled;
}

TEST(CnnModelTest, ForwardMatchesDirectConvolution) {
  const CnnOptions o = SmallOptions();
  CnnModel model(o, DenseInit::kKaimingUniform, false, 4);
  const Matrix x = Inputs(o, 5);
  Matrix logits(5, o.num_classes);
  model.Forward(x, logits);
  std::vector<ParamSlot> p = model.Params();
  ASSERT_EQ(p.size(), 6u);
  for (int64_t e = 0; e < 5; ++e) {
    std::vector<double> image(x.row(e).data(), x.row(e).data() + x.cols());
    const std::vector<double> p1 =
        ReferenceStage(image, o.in_channels, o.height, o.width, *p[0].value, *p[1].value);
    const std::vector<double> p2 =
        ReferenceStage(p1, o.channels1, o.height / 2, o.width / 2, *p[2].value, *p[3].value);
    ASSERT_EQ(static_cast<int64_t>(p2.size()), p[4].value->cols());  // 4 · 2 · 1.
    for (int64_t k = 0; k < o.num_classes; ++k) {
      double z = (*p[5].value)(k, 0);
      for (size_t j = 0; j < p2.size(); ++j) z += (*p[4].value)(k, j) * p2[j];
      EXPECT_NEAR(logits(e, k), z, 1e-13) << e << "," << k;
    }
    ASSERT_TRUE(model.HeadInput().has_value());
    for (size_t j = 0; j < p2.size(); ++j) EXPECT_NEAR((*model.HeadInput())(e, j), p2[j], 1e-14);
  }
}

constexpr GradientTolerance kCnnTolerance{/*step=*/1e-6, /*abs_tol=*/1e-8, /*rel_tol=*/1e-6};

// Central differences of the mean loss against the analytic gradient, every entry of every slot.
void CheckGradient(const CnnOptions& o, DenseInit init) {
  CnnModel model(o, init, false, 5);
  const int64_t checked =
      CheckModelGradient(&model, Inputs(o, 5), kLabels, kCnnTolerance).entries_checked;
  // Every slot must carry some gradient signal somewhere (a dead network passes trivially).
  for (const ParamSlot& slot : model.Params()) EXPECT_GT(slot.grad->norm(), 0.0) << slot.id;
  EXPECT_EQ(checked, CnnShapeFor(o).num_params);
}

TEST(CnnModelTest, GradientMatchesFiniteDifferences) {
  CheckGradient(SmallOptions(), DenseInit::kKaimingUniform);
}

TEST(CnnModelTest, GradientMatchesFiniteDifferencesWithoutBiasXavier) {
  CnnOptions o = SmallOptions();
  o.bias = false;
  o.height = 8;
  o.width = 8;
  o.in_channels = 1;
  CheckGradient(o, DenseInit::kXavierUniform);
}

TEST(CnnModelTest, PapersShapeAndSlots) {
  const CnnOptions paper;  // 28 x 28 x 1, 32 and 100 channels, 10 classes.
  const CnnShape s = CnnShapeFor(paper);
  EXPECT_EQ(s.flat, 4900);
  EXPECT_EQ(s.num_params, 32 * 26 + 100 * 801 + 10 * 4901);
  CnnOptions tiny = paper;
  tiny.channels1 = 2;
  tiny.channels2 = 3;
  CnnModel model(tiny, DenseInit::kKaimingUniform, true, 1);
  const std::vector<ParamSlot> slots = model.Params();
  ASSERT_EQ(slots.size(), 6u);
  EXPECT_EQ(slots[0].id, "conv1.weight");
  EXPECT_EQ(slots[0].role, ParamRole::kHiddenMatrix);
  EXPECT_EQ(slots[0].value->rows(), 2);
  EXPECT_EQ(slots[0].value->cols(), 25);
  EXPECT_EQ(slots[2].id, "conv2.weight");
  EXPECT_EQ(slots[2].value->cols(), 50);
  EXPECT_EQ(slots[3].role, ParamRole::kVector);
  EXPECT_EQ(slots[4].id, "head.weight");
  EXPECT_EQ(slots[4].role, ParamRole::kOutputHead);
  EXPECT_EQ(slots[4].value->cols(), 3 * 7 * 7);
  EXPECT_TRUE(slots[4].value->isZero(0));  // zero_head.
  EXPECT_EQ(model.num_inputs(), 784);
}

TEST(CnnModelTest, GradientsAccumulateOverChunks) {
  const CnnOptions o = SmallOptions();
  CnnModel model(o, DenseInit::kKaimingUniform, false, 3);
  const Matrix x = Inputs(o, 5);
  auto gradient = [&](Eigen::Index chunk) {
    model.ZeroGrad();
    for (Eigen::Index start = 0; start < 5; start += chunk) {
      const Eigen::Index rows = std::min<Eigen::Index>(chunk, 5 - start);
      Matrix logits(rows, o.num_classes);
      model.Forward(x.middleRows(start, rows), logits);
      SoftmaxCrossEntropy(logits, kLabels.data() + start, 1.0 / 5, nullptr);
      model.Backward(logits);
    }
    std::vector<Matrix> grads;
    for (const ParamSlot& slot : model.Params()) grads.push_back(*slot.grad);
    return grads;
  };
  const std::vector<Matrix> whole = gradient(5);
  const std::vector<Matrix> chunked = gradient(2);
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_TRUE(whole[i].isApprox(chunked[i], 1e-13));
}

// A chunk of several im2col blocks with a partial last one (2 · kCnnBlockRows + 3 rows) must give
// the logits and gradients of the same examples run one at a time (a block of 1): catches a block
// offset or stride mix-up in the batched im2col, pooling, scatter or col2im.
TEST(CnnModelTest, BlocksOfAChunkMatchOneExampleAtATime) {
  const CnnOptions o = SmallOptions();
  const int64_t rows = 2 * kCnnBlockRows + 3;
  CnnModel model(o, DenseInit::kKaimingUniform, false, 7);
  const Matrix x = Inputs(o, rows);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) labels[i] = static_cast<int32_t>((i * 7) % o.num_classes);
  auto run = [&](Eigen::Index chunk, Matrix* all_logits) {
    model.ZeroGrad();
    for (Eigen::Index start = 0; start < rows; start += chunk) {
      const Eigen::Index r = std::min<Eigen::Index>(chunk, rows - start);
      Matrix logits(r, o.num_classes);
      model.Forward(x.middleRows(start, r), logits);
      all_logits->middleRows(start, r) = logits;
      SoftmaxCrossEntropy(logits, labels.data() + start, 1.0 / rows, nullptr);
      model.Backward(logits);
    }
    std::vector<Matrix> grads;
    for (const ParamSlot& slot : model.Params()) grads.push_back(*slot.grad);
    return grads;
  };
  Matrix logits_whole(rows, o.num_classes), logits_single(rows, o.num_classes);
  const std::vector<Matrix> whole = run(rows, &logits_whole);
  const std::vector<Matrix> single = run(1, &logits_single);
  EXPECT_LT((logits_whole - logits_single).cwiseAbs().maxCoeff(), 1e-14);
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_GT(whole[i].norm(), 0.0) << i;
    EXPECT_TRUE(whole[i].isApprox(single[i], 1e-13)) << i;
  }
}

// The memory the header promises: chunk buffers per row and the fixed im2col block, for the
// paper's widths (hand-computed from the shapes in cnn.h).
TEST(CnnModelTest, BufferSizesForThePapersWidths) {
  const CnnShape s = CnnShapeFor(CnnOptions());
  EXPECT_EQ(s.buffer_reals_per_row, 2 * 32 * 14 * 14 + 3 * 4900);
  // Per block: im2col and its gradient, the second layer's (32·25·14·14 each) dominating the
  // first's (25·28·28); the first layer's output (32·28·28) dominating the second's (100·14·14);
  // dL/d(pooled1). Plus one zero-bordered input image per stage (32·32 and 32·18·18).
  EXPECT_EQ(s.block_reals, kCnnBlockRows * (2 * 32 * 25 * 14 * 14 + 32 * 28 * 28 + 32 * 14 * 14) +
                               32 * 32 + 32 * 18 * 18);
}

}  // namespace
}  // namespace optbench::engine
