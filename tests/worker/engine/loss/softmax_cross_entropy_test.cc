#include "worker/engine/loss/softmax_cross_entropy.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::CheckInputGradient;
using ::optbench::testing::GradientCheckResult;
using ::optbench::testing::GradientTolerance;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

// The per-class statistics recomputed with plain loops in double, straight from the definitions
// of ALGORITHMS.md 6.1 (no shared code with the engine).
ClassStats Reference(const Matrix& logits, const std::vector<int32_t>& labels) {
  const int c = static_cast<int>(logits.cols());
  ClassStats s;
  s.count.assign(c, 0);
  s.loss_sum.assign(c, 0);
  s.correct.assign(c, 0);
  s.p_true_sum.assign(c, 0);
  s.p_mass.assign(c, 0);
  for (int i = 0; i < logits.rows(); ++i) {
    double max = -INFINITY;
    int argmax = 0;
    for (int j = 0; j < c; ++j) {
      if (logits(i, j) > max) {
        max = logits(i, j);
        argmax = j;
      }
    }
    double z = 0;
    for (int j = 0; j < c; ++j) z += std::exp(logits(i, j) - max);
    const int y = labels[i];
    s.count[y] += 1;
    s.loss_sum[y] += -(logits(i, y) - max - std::log(z));
    s.correct[y] += argmax == y;
    s.p_true_sum[y] += std::exp(logits(i, y) - max) / z;
    for (int j = 0; j < c; ++j) s.p_mass[j] += std::exp(logits(i, j) - max) / z;
  }
  return s;
}

void ExpectStatsNear(const ClassStats& a, const ClassStats& b) {
  ASSERT_EQ(a.count.size(), b.count.size());
  for (size_t k = 0; k < a.count.size(); ++k) {
    EXPECT_EQ(a.count[k], b.count[k]) << k;
    EXPECT_EQ(a.correct[k], b.correct[k]) << k;
    EXPECT_NEAR(a.loss_sum[k], b.loss_sum[k], 1e-12 * (1 + std::fabs(b.loss_sum[k]))) << k;
    EXPECT_NEAR(a.p_true_sum[k], b.p_true_sum[k], 1e-12) << k;
    EXPECT_NEAR(a.p_mass[k], b.p_mass[k], 1e-12) << k;
  }
}

struct Batch {
  Matrix logits;
  std::vector<int32_t> labels;
};

// Random logits of scale 3 for 50 examples of 6 classes; class 5 never appears as a label.
Batch MakeBatch() {
  Batch b;
  Rng rng(5);
  b.logits.resize(50, 6);
  for (Eigen::Index i = 0; i < b.logits.size(); ++i) b.logits.data()[i] = 3 * rng.Normal();
  for (int i = 0; i < 50; ++i) b.labels.push_back(static_cast<int32_t>(rng.UniformInt(5)));
  return b;
}

TEST(SoftmaxCrossEntropyTest, PerClassStatisticsMatchAnIndependentComputation) {
  const Batch b = MakeBatch();
  const ClassStats expected = Reference(b.logits, b.labels);
  Matrix work = b.logits;
  ClassStats stats;
  stats.Reset(6);
  const double total = SoftmaxCrossEntropy(work, b.labels.data(), 0.0, &stats);
  ExpectStatsNear(stats, expected);
  EXPECT_NEAR(total, expected.TotalLoss(), 1e-12);
  EXPECT_EQ(stats.count[5], 0);
  EXPECT_GT(stats.p_mass[5], 0.0);  // Absent class still receives probability mass.
  double mass = 0;
  for (double m : stats.p_mass) mass += m;
  EXPECT_NEAR(mass, 50.0, 1e-12);  // Every example's probabilities sum to one.
}

TEST(SoftmaxCrossEntropyTest, WritesTheScaledGradientOfTheLoss) {
  const Batch b = MakeBatch();
  Matrix work = b.logits;
  SoftmaxCrossEntropy(work, b.labels.data(), 0.02, nullptr);
  for (int i = 0; i < 50; ++i) {
    double z = 0;
    for (int j = 0; j < 6; ++j) z += std::exp(b.logits(i, j));
    for (int j = 0; j < 6; ++j) {
      const double expected = 0.02 * (std::exp(b.logits(i, j)) / z - (b.labels[i] == j));
      EXPECT_NEAR(work(i, j), expected, 1e-15) << i << "," << j;
    }
  }
}

// Float64 central differences of the mean loss over logits of scale 3: h = 1e-5 keeps the
// rounding error (~eps |L| / h ~ 1e-10) and the truncation error (~h^2 / 50 ~ 1e-12) far below
// the gradient's entries (up to 1/50).
constexpr GradientTolerance kSoftmaxCrossEntropyTolerance{/*step=*/1e-5, /*abs_tol=*/1e-9,
                                                          /*rel_tol=*/1e-6};

// The gradient it writes is the derivative of the loss it returns (the test above recomputes the
// gradient's formula; this one ties the formula to the loss).
TEST(SoftmaxCrossEntropyTest, GradientMatchesFiniteDifferencesOfTheLoss) {
  Batch b = MakeBatch();
  Matrix gradient = b.logits;
  SoftmaxCrossEntropy(gradient, b.labels.data(), 1.0 / 50, nullptr);
  const GradientCheckResult r = CheckInputGradient(
      "logits", &b.logits, gradient,
      [&] {
        Matrix work = b.logits;
        return SoftmaxCrossEntropy(work, b.labels.data(), 0.0, nullptr) / 50;
      },
      kSoftmaxCrossEntropyTolerance);
  EXPECT_EQ(r.entries_checked, 50 * 6);
  EXPECT_GT(r.max_abs_numeric, 1e-2);  // Not vacuous: the largest entries are ~1/50.
}

TEST(SoftmaxCrossEntropyTest, ChunkedAccumulationEqualsUnchunked) {
  const Batch b = MakeBatch();
  ClassStats whole, chunked;
  whole.Reset(6);
  chunked.Reset(6);
  Matrix work = b.logits;
  SoftmaxCrossEntropy(work, b.labels.data(), 0.0, &whole);
  for (int start = 0; start < 50; start += 16) {
    const int rows = std::min(16, 50 - start);
    Matrix chunk = b.logits.middleRows(start, rows);
    SoftmaxCrossEntropy(chunk, b.labels.data() + start, 0.0, &chunked);
  }
  ExpectStatsNear(chunked, whole);
}

TEST(SoftmaxCrossEntropyTest, TiesGoToTheLowestIndex) {
  Matrix logits(3, 3);
  logits << 1, 1, 0,  // Tie between 0 and 1: argmax 0, correct for label 0.
      0, 2, 2,        // Tie between 1 and 2: argmax 1, wrong for label 2.
      0, 0, 0;        // All equal: argmax 0, wrong for label 1.
  const std::vector<int32_t> labels = {0, 2, 1};
  ClassStats stats;
  stats.Reset(3);
  SoftmaxCrossEntropy(logits, labels.data(), 0.0, &stats);
  EXPECT_EQ(stats.correct, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_NEAR(stats.loss_sum[1], std::log(3.0), 1e-15);
}

TEST(SoftmaxCrossEntropyTest, IsStableForExtremeLogits) {
  Matrix logits(2, 3);
  logits << 1000, 0, -1000,  // A naive exp overflows.
      -800, -800, -801;      // A naive exp underflows to 0/0.
  const std::vector<int32_t> labels = {1, 2};
  ClassStats stats;
  stats.Reset(3);
  const double total = SoftmaxCrossEntropy(logits, labels.data(), 1.0, &stats);
  EXPECT_NEAR(stats.loss_sum[1], 1000.0, 1e-9);
  const double expected2 = std::log(2 + std::exp(-1.0)) + 1.0;
  EXPECT_NEAR(stats.loss_sum[2], expected2, 1e-12);
  EXPECT_NEAR(total, 1000.0 + expected2, 1e-9);
  EXPECT_TRUE(logits.allFinite());
}

// Rows wider than the argmax blocks (256): ties and maxima in different blocks, and a wide batch
// against the reference.
TEST(SoftmaxCrossEntropyTest, WideRowsMatchTheReferenceAndTiesGoToTheLowestIndexAcrossBlocks) {
  constexpr int kClasses = 1000;
  Matrix logits = Matrix::Zero(4, kClasses);
  logits(0, 700) = 5;  // Tie in blocks 1 and 2: argmax 300.
  logits(0, 300) = 5;
  logits(1, 300) = 5;  // The strictly larger one in a later block wins: argmax 999.
  logits(1, 999) = 6;
  logits(2, 255) = 4;  // Last element of block 0 against first of block 1: argmax 255.
  logits(2, 256) = 4;
  // Row 3: all equal, argmax 0.
  const std::vector<int32_t> labels = {300, 999, 256, 0};
  ClassStats stats;
  stats.Reset(kClasses);
  Matrix work = logits;
  SoftmaxCrossEntropy(work, labels.data(), 0.0, &stats);
  EXPECT_EQ(stats.correct[300], 1);
  EXPECT_EQ(stats.correct[999], 1);
  EXPECT_EQ(stats.correct[256], 0);  // Argmax 255.
  EXPECT_EQ(stats.correct[0], 1);
  ExpectStatsNear(stats, Reference(logits, labels));

  Rng rng(11);
  Matrix wide(20, kClasses);
  for (Eigen::Index i = 0; i < wide.size(); ++i) wide.data()[i] = 4 * rng.Normal();
  std::vector<int32_t> wide_labels(20);
  for (int32_t& y : wide_labels) y = static_cast<int32_t>(rng.UniformInt(kClasses));
  ClassStats wide_stats;
  wide_stats.Reset(kClasses);
  work = wide;
  SoftmaxCrossEntropy(work, wide_labels.data(), 0.0, &wide_stats);
  ExpectStatsNear(wide_stats, Reference(wide, wide_labels));
}

// The curvature a request asks for: sum_i w_i p_ik (1 - p_ik), added to what is there, from the
// same pass (the class-row Gauss-Newton trace with w_i = ||h_i||^2).
TEST(SoftmaxCrossEntropyTest, CurvatureRequestSumsTheWeightedHessianDiagonal) {
  const Batch b = MakeBatch();
  std::vector<double> weights(50);
  Rng rng(2);
  for (double& w : weights) w = 3 * rng.Uniform();
  std::vector<double> sums(6, 1.0);
  const CurvatureRequest request{weights.data(), sums.data()};
  Matrix work = b.logits;
  SoftmaxCrossEntropy(work, b.labels.data(), 0.0, nullptr, &request);
  for (int k = 0; k < 6; ++k) {
    double expected = 1.0;  // It adds to what is there.
    for (int i = 0; i < 50; ++i) {
      double z = 0;
      for (int j = 0; j < 6; ++j) z += std::exp(b.logits(i, j));
      const double p = std::exp(b.logits(i, k)) / z;
      expected += weights[i] * p * (1 - p);
    }
    EXPECT_NEAR(sums[k], expected, 1e-12) << k;
  }
}

TEST(SoftmaxCrossEntropyTest, NonFiniteLogitsGiveANonFiniteLoss) {
  Matrix logits(1, 2);
  logits << std::nan(""), 0;
  const int32_t label = 1;
  EXPECT_FALSE(std::isfinite(SoftmaxCrossEntropy(logits, &label, 1.0, nullptr)));
  logits << INFINITY, 0;
  EXPECT_FALSE(std::isfinite(SoftmaxCrossEntropy(logits, &label, 1.0, nullptr)));
}

}  // namespace
}  // namespace optbench::engine
