#include "tests/testing/gradient_check.h"

#include <cmath>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "worker/engine/random.h"

namespace optbench::testing {
namespace {

using engine::Matrix;

constexpr GradientTolerance kTolerance{/*step=*/1e-6, /*abs_tol=*/1e-8, /*rel_tol=*/1e-6};

Matrix Uniform(Eigen::Index rows, Eigen::Index cols, double scale, uint64_t seed) {
  engine::Rng rng(seed);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * (2 * rng.Uniform() - 1);
  return m;
}

bool BitIdentical(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<size_t>(a.size())) == 0;
}

// Entries of magnitudes 1 down to 1e-11: stepping by h and back by arithmetic loses the low bits
// of the small ones, so only a restore by assignment is bit-exact.
Matrix Spread(Matrix m) {
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] *= std::pow(10.0, -static_cast<double>(i));
  }
  return m;
}

// f(W, v) = sum_ij sin(W_ij) + 1/2 sum_k (k + 1) v_k^2; df/dW = cos(W), df/dv_k = (k + 1) v_k.
struct SinePlusQuadratic {
  Matrix w = Spread(Uniform(3, 4, 2.0, 1));
  Matrix v = Uniform(5, 1, 1.0, 2);
  Matrix dw = w.array().cos().matrix();
  Matrix dv = v;
  int64_t calls = 0;

  SinePlusQuadratic() {
    for (Eigen::Index k = 0; k < v.size(); ++k) dv(k, 0) *= static_cast<double>(k + 1);
  }
  std::vector<GradientSlot> Slots() { return {{"W", &w, &dw}, {"v", &v, &dv}}; }
  double Value() {
    ++calls;
    double f = w.array().sin().sum();
    for (Eigen::Index k = 0; k < v.size(); ++k) {
      f += 0.5 * static_cast<double>(k + 1) * v(k, 0) * v(k, 0);
    }
    return f;
  }
  GradientCheckResult Check() {
    const auto value = [this] { return Value(); };
    return CheckGradient(Slots(), value, kTolerance);
  }
};

TEST(GradientCheckTest, PassesOnAKnownFunctionAndRestoresEveryValueBitExactly) {
  SinePlusQuadratic f;
  const Matrix w0 = f.w, v0 = f.v;
  // The restore must be an assignment: undoing the step arithmetically would not round-trip.
  bool arithmetic_round_trip_is_exact = true;
  for (Eigen::Index i = 0; i < w0.size(); ++i) {
    const double x = w0.data()[i];
    arithmetic_round_trip_is_exact &= (x - kTolerance.step) + kTolerance.step == x;
  }
  ASSERT_FALSE(arithmetic_round_trip_is_exact);

  const GradientCheckResult r = f.Check();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.entries_checked, 12 + 5);
  EXPECT_EQ(f.calls, 2 * (12 + 5));  // Central differences: two evaluations per entry.
  ASSERT_EQ(r.slots.size(), 2u);
  EXPECT_EQ(r.slots[0].name, "W");
  EXPECT_EQ(r.slots[0].entries_checked, 12);
  EXPECT_EQ(r.slots[1].name, "v");
  EXPECT_EQ(r.slots[1].entries_checked, 5);
  EXPECT_LT(r.max_abs_error, 1e-8);
  EXPECT_LT(r.max_rel_error, 1e-6);
  EXPECT_GT(r.max_abs_numeric, 0.5);
  EXPECT_EQ(r.max_abs_numeric, std::max(r.slots[0].max_abs_numeric, r.slots[1].max_abs_numeric));
  EXPECT_TRUE(BitIdentical(f.w, w0));
  EXPECT_TRUE(BitIdentical(f.v, v0));
}

TEST(GradientCheckTest, NamesTheSlotAndIndexOfAWrongEntry) {
  SinePlusQuadratic f;
  const Matrix w0 = f.w;
  f.dw(1, 2) += 1e-3;  // Flat index 6 of the row-major 3 x 4 matrix.
  GradientCheckResult r;
  EXPECT_NONFATAL_FAILURE(r = f.Check(),
                          "1 of 12 entries of W (3 x 4) differ from central differences");
  EXPECT_NONFATAL_FAILURE(f.Check(), "W[6] (row 1, col 2): analytic ");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failures, 1);
  EXPECT_EQ(r.slots[0].failures, 1);
  EXPECT_EQ(r.slots[1].failures, 0);
  EXPECT_NEAR(r.max_abs_error, 1e-3, 1e-8);
  EXPECT_TRUE(BitIdentical(f.w, w0));  // Restored on failure too.
}

TEST(GradientCheckTest, ReportsAllWrongEntriesOfASlotInOneFailureListingTen) {
  SinePlusQuadratic f;
  f.dw = -f.dw;  // A sign error everywhere (no entry of cos(W) is 0 here).
  GradientCheckResult r;
  EXPECT_NONFATAL_FAILURE(r = f.Check(), "12 of 12 entries of W");
  EXPECT_NONFATAL_FAILURE(f.Check(), "W[9] (row 2, col 1)");
  EXPECT_NONFATAL_FAILURE(f.Check(), "\n  ... and 2 more");
  EXPECT_EQ(r.failures, 12);
  EXPECT_EQ(r.slots[1].failures, 0);
}

// f(w) = 1/2 sum_i a_i w_i^2: central differences are exact up to rounding (~1e-12 here), so
// the verdict depends only on the tolerance. w_0 = 0 has gradient 0 (only abs_tol applies).
TEST(GradientCheckTest, AllowsAbsolutePlusRelativeToleranceAndNoMore) {
  constexpr GradientTolerance kTol{/*step=*/1e-3, /*abs_tol=*/1e-6, /*rel_tol=*/1e-3};
  Matrix w(4, 1), a(4, 1);
  w << 0.0, 0.7, -1.3, 2.1;
  a << 1.0, 2.0, 3.0, 0.5;
  const Matrix exact = a.cwiseProduct(w);
  const Matrix allowed = (kTol.abs_tol + kTol.rel_tol * exact.array().abs()).matrix();
  auto f = [&] { return 0.5 * a.cwiseProduct(w.cwiseProduct(w)).sum(); };
  Matrix inside = exact + 0.9 * allowed;
  EXPECT_TRUE(CheckGradient({{"w", &w, &inside}}, f, kTol).ok());
  Matrix below = exact - 0.9 * allowed;
  EXPECT_TRUE(CheckGradient({{"w", &w, &below}}, f, kTol).ok());
  Matrix outside = exact + 1.1 * allowed;
  const std::vector<GradientSlot> slots = {{"w", &w, &outside}};
  GradientCheckResult r;
  EXPECT_NONFATAL_FAILURE(r = CheckGradient(slots, f, kTol), "4 of 4 entries of w");
  EXPECT_EQ(r.failures, 4);
}

TEST(GradientCheckTest, ANonFiniteAnalyticGradientFails) {
  SinePlusQuadratic f;
  f.dv(3, 0) = std::nan("");
  EXPECT_NONFATAL_FAILURE(f.Check(), "v[3] (row 3, col 0): analytic nan");
}

TEST(GradientCheckTest, AMisshapenGradientFailsWithoutProbing) {
  SinePlusQuadratic f;
  f.dw = Matrix::Zero(4, 3);
  GradientCheckResult r;
  EXPECT_NONFATAL_FAILURE(r = f.Check(), "the analytic gradient of W is 4 x 3, its value 3 x 4");
  EXPECT_EQ(r.failures, 1);
  EXPECT_EQ(r.slots[0].entries_checked, 0);
  EXPECT_EQ(r.slots[1].entries_checked, 5);
}

// The analytic gradient is read before probing: an objective that reuses the gradient buffer
// (as a model's Backward would) does not change the verdict.
TEST(GradientCheckTest, ReadsTheAnalyticGradientBeforeProbing) {
  SinePlusQuadratic f;
  const GradientCheckResult r = CheckGradient(
      f.Slots(),
      [&] {
        f.dw.setConstant(1e9);
        return f.Value();
      },
      kTolerance);
  EXPECT_TRUE(r.ok());
}

// The entries (flat indices) of a 100-entry and a 5-entry tensor that the checker perturbs.
std::vector<std::set<Eigen::Index>> ProbedEntries(const EntrySubset& subset,
                                                  GradientCheckResult* result) {
  Matrix w = Uniform(10, 10, 1.0, 3), small = Uniform(5, 1, 1.0, 4);
  const Matrix w0 = w, small0 = small;
  Matrix dw = Matrix::Zero(10, 10), dsmall = Matrix::Zero(5, 1);
  std::set<Eigen::Index> seen_w, seen_small;
  *result = CheckGradient(
      {{"W", &w, &dw}, {"small", &small, &dsmall}},
      [&] {
        for (Eigen::Index i = 0; i < w.size(); ++i) {
          if (w.data()[i] != w0.data()[i]) seen_w.insert(i);
        }
        for (Eigen::Index i = 0; i < small.size(); ++i) {
          if (small.data()[i] != small0.data()[i]) seen_small.insert(i);
        }
        return 0.0;  // A constant: the zero gradients are right.
      },
      kTolerance, subset);
  return {seen_w, seen_small};
}

TEST(GradientCheckTest, ASubsetProbesDistinctEntriesOfLargeTensorsAndAllOfSmallOnes) {
  GradientCheckResult r;
  const auto probed = ProbedEntries({/*max_per_tensor=*/12, /*seed=*/13}, &r);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(probed[0].size(), 12u);
  EXPECT_EQ(probed[1].size(), 5u);
  EXPECT_EQ(r.slots[0].entries_checked, 12);
  EXPECT_EQ(r.slots[1].entries_checked, 5);
  EXPECT_EQ(r.entries_checked, 17);
  GradientCheckResult again;
  EXPECT_EQ(ProbedEntries({12, 13}, &again), probed);  // Deterministic.
  EXPECT_NE(ProbedEntries({12, 14}, &again)[0], probed[0]);
  EXPECT_EQ(ProbedEntries({}, &again)[0].size(), 100u);  // Default: every entry.
}

// d/dx log sum_j exp(x_j) = softmax(x).
TEST(GradientCheckTest, ChecksTheGradientWithRespectToAnInput) {
  Matrix x = Uniform(1, 6, 3.0, 5);
  const Matrix x0 = x;
  Matrix softmax = x.array().exp().matrix();
  softmax /= softmax.sum();
  auto log_sum_exp = [&] { return std::log(x.array().exp().sum()); };
  const GradientCheckResult r = CheckInputGradient("x", &x, softmax, log_sum_exp, kTolerance);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.entries_checked, 6);
  EXPECT_TRUE(BitIdentical(x, x0));
  Matrix wrong = softmax;
  wrong(0, 4) = 0;
  GradientCheckResult bad;
  EXPECT_NONFATAL_FAILURE(bad = CheckInputGradient("x", &x, wrong, log_sum_exp, kTolerance),
                          "x[4] (row 0, col 4)");
  EXPECT_EQ(bad.failures, 1);
}

// A linear classifier, logits = x W^T, whose Backward can drop every example but the first (a
// chunking bug): the model path of the checker must catch it.
class TinyLinear : public engine::Model {
 public:
  explicit TinyLinear(bool first_example_only)
      : w_(Uniform(3, 4, 1.0, 6)), grad_(Matrix::Zero(3, 4)), buggy_(first_example_only) {}
  int64_t num_inputs() const override { return 4; }
  int64_t num_outputs() const override { return 3; }
  void Forward(const engine::ConstMatrixRef& x, engine::MatrixRef logits) override {
    x_ = x;
    logits = x * w_.transpose();
  }
  void Backward(const engine::ConstMatrixRef& dlogits) override {
    const Eigen::Index rows = buggy_ ? 1 : dlogits.rows();
    grad_ += dlogits.topRows(rows).transpose() * x_.topRows(rows);
  }
  std::vector<engine::ParamSlot> Params() override { return {{"weight", &w_, &grad_}}; }
  void ZeroGrad() override { grad_.setZero(); }

 private:
  Matrix w_, grad_, x_;
  bool buggy_;
};

TEST(GradientCheckTest, ModelCheckPassesForACorrectBackwardAndCatchesABrokenOne) {
  const Matrix x = Uniform(5, 4, 1.0, 7);
  const std::vector<int32_t> labels = {0, 2, 1, 1, 0};
  TinyLinear good(false);
  const GradientCheckResult r = CheckModelGradient(&good, x, labels, kTolerance);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.entries_checked, 12);
  EXPECT_GT(r.max_abs_numeric, 1e-2);
  // The model keeps the analytic gradient that was checked.
  EXPECT_GT(good.Params()[0].grad->norm(), 0.0);
  TinyLinear broken(true);
  EXPECT_NONFATAL_FAILURE(CheckModelGradient(&broken, x, labels, kTolerance),
                          "entries of weight (3 x 4) differ");
}

}  // namespace
}  // namespace optbench::testing
