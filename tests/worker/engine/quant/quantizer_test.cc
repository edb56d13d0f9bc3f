// SignRound's quantizer (quantizer.h) against an independent NumPy transcription of auto-round
// with autograd (fixtures/make_fixtures.py), round to nearest computed directly, gradients worked
// out by hand, and central differences of the straight-through surrogate.
#include "worker/engine/quant/quantizer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::IsOk;
using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kAllBits[] = {2, 3, 4, 8};

Matrix Row(std::initializer_list<double> values) {
  Matrix m(1, static_cast<Eigen::Index>(values.size()));
  Eigen::Index j = 0;
  for (double v : values) m(0, j++) = v;
  return m;
}

Matrix RandomMatrix(int64_t rows, int64_t cols, double lo, double hi, Rng* rng) {
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = lo + (hi - lo) * rng->Uniform();
  return m;
}

TEST(QuantizerTest, ValidationNamesTheBadValue) {
  EXPECT_THAT(
      ValidateQuantConfig({5, 32, false}),
      StatusIs(absl::StatusCode::kInvalidArgument, "quantize.bits: 5 is not one of 2, 3, 4, 8"));
  EXPECT_THAT(ValidateQuantConfig({1, 32, true}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quantize.bits: 1")));
  EXPECT_THAT(ValidateQuantConfig({4, 0, false}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quantize.group_size: 0 ")));
  EXPECT_THAT(ValidateQuantConfig({4, -2, false}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quantize.group_size: -2 ")));
  for (int bits : kAllBits) {
    EXPECT_THAT(ValidateQuantConfig({bits, -1, false}), IsOk());
    EXPECT_THAT(ValidateQuantConfig({bits, 1, true}), IsOk());
  }

  EXPECT_THAT(CheckGroupsFit({4, 32, false}, "layer0.weight", 784),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "quantize.group_size: 32 does not divide the 784 inputs of layer0.weight"));
  EXPECT_THAT(CheckGroupsFit({4, 16, false}, "layer0.weight", 784), IsOk());
  EXPECT_THAT(CheckGroupsFit({4, -1, false}, "layer0.weight", 784), IsOk());
  EXPECT_THAT(CheckGroupsFit({4, 1000, false}, "head.weight", 784),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1000 does not divide")));
  EXPECT_THAT(CheckGroupsFit({9, 16, false}, "layer0.weight", 784),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quantize.bits: 9")));
  EXPECT_THAT(
      CheckGroupsFit({4, -1, false}, "layer0.weight", 0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layer0.weight has 0 inputs")));
  EXPECT_EQ(NumGroups({4, 16, false}, 784), 49);
  EXPECT_EQ(NumGroups({4, -1, false}, 784), 1);
  EXPECT_EQ(NumGroups({4, 784, false}, 784), 1);
}

TEST(QuantizerTest, IntegerRanges) {
  EXPECT_EQ(MinQuantized({2, -1, false}), 0);
  EXPECT_EQ(MaxQuantized({2, -1, false}), 3);
  EXPECT_EQ(MaxQuantized({8, -1, false}), 255);
  EXPECT_EQ(MinQuantized({3, -1, true}), -4);
  EXPECT_EQ(MaxQuantized({3, -1, true}), 3);
  EXPECT_EQ(MinQuantized({8, -1, true}), -128);
  EXPECT_EQ(MaxQuantized({8, -1, true}), 127);
}

// RTN computed directly from each group's extremes: the quantizer at V = 0, alpha = beta = 1.
TEST(QuantizerTest, InitialRoundingIsRoundToNearest) {
  Rng rng(11);
  const Matrix w = RandomMatrix(3, 12, -1, 1.5, &rng);
  for (int bits : kAllBits) {
    for (int64_t group : {4, 6, -1}) {
      for (bool symmetric : {false, true}) {
        const QuantConfig c{bits, group, symmetric};
        SCOPED_TRACE(::testing::Message()
                     << bits << " bits, group " << group << ", sym " << symmetric);
        const RoundingParams p = InitialRounding(c, 3, 12);
        const int64_t groups = group == -1 ? 1 : 12 / group, g = 12 / groups;
        EXPECT_EQ(p.v, Matrix::Zero(3, 12));
        EXPECT_EQ(p.alpha, Matrix::Ones(3, groups));
        EXPECT_EQ(p.beta, Matrix::Ones(3, groups));
        QuantizedMatrix m;
        Quantize(w, p, c, &m);
        for (int64_t r = 0; r < 3; ++r) {
          for (int64_t k = 0; k < groups; ++k) {
            const auto wg = w.row(r).segment(k * g, g);
            const double lo = std::min(wg.minCoeff(), 0.0), hi = std::max(wg.maxCoeff(), 0.0);
            double s, zp = 0, q_min, q_max;
            if (symmetric) {
              const double half = std::ldexp(1.0, bits - 1);
              s = static_cast<float>((hi >= -lo ? -hi : -lo) / half);
              q_min = -half;
              q_max = half - 1;
            } else {
              q_min = 0;
              q_max = std::ldexp(1.0, bits) - 1;
              s = static_cast<float>((hi - lo) / q_max);
              zp = std::nearbyint(-lo / s);
            }
            EXPECT_EQ(m.scale(r, k), s);
            EXPECT_EQ(m.zero(r, k), zp);
            for (int64_t j = 0; j < g; ++j) {
              const double q = std::clamp(std::nearbyint(wg(j) / s) + zp, q_min, q_max);
              EXPECT_EQ(m.q(r, k * g + j), q);
              EXPECT_EQ(m.dequantized(r, k * g + j), s * (q - zp));
              // Asymmetric RTN covers [lo, hi], so it never clips: the error is half a step.
              if (!symmetric) {
                EXPECT_LE(std::abs(wg(j) - s * (q - zp)), s / 2 * (1 + 1e-12));
              }
            }
          }
        }
      }
    }
  }
}

// A case of fixtures/int_quant.txt: inputs and auto-round's outputs and gradients.
struct ReferenceCase {
  QuantConfig config;
  std::map<std::string, Matrix> m;
};

bool ReadReferenceCases(const std::string& path, std::vector<ReferenceCase>* cases) {
  std::ifstream in(path);
  std::string line;
  std::stringstream body;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') body << line << '\n';
  }
  std::string word;
  while (body >> word && word == "case") {
    ReferenceCase c;
    int symmetric = 0;
    body >> word >> c.config.bits >> word >> c.config.group_size >> word >> symmetric;
    c.config.symmetric = symmetric != 0;
    for (int i = 0; i < 12; ++i) {
      std::string name;
      int64_t rows = 0, cols = 0;
      body >> name >> rows >> cols;
      Matrix m(rows, cols);
      for (Eigen::Index k = 0; k < m.size(); ++k) body >> m.data()[k];
      c.m[name] = m;
    }
    if (!body) return false;
    cases->push_back(std::move(c));
  }
  return word == "end";
}

void ExpectNear(const Matrix& actual, const Matrix& expected, const std::string& what) {
  ASSERT_EQ(actual.rows(), expected.rows()) << what;
  ASSERT_EQ(actual.cols(), expected.cols()) << what;
  for (Eigen::Index i = 0; i < actual.size(); ++i) {
    // Sums over a group in another order than NumPy's: a few ulps of the largest term.
    EXPECT_NEAR(actual.data()[i], expected.data()[i],
                1e-12 * std::max(1.0, std::abs(expected.data()[i])))
        << what << "[" << i / actual.cols() << ", " << i % actual.cols() << "]";
  }
}

TEST(QuantizerTest, MatchesAutoRoundReference) {
  std::vector<ReferenceCase> cases;
  ASSERT_TRUE(ReadReferenceCases(
      std::string(OPTBENCH_SOURCE_DIR) + "/tests/worker/engine/quant/fixtures/int_quant.txt",
      &cases));
  ASSERT_EQ(cases.size(), 16u);  // Bits 2, 3, 4, 8 x group 4, -1 x asymmetric, symmetric.
  int clipped = 0, thresholded = 0;
  for (const ReferenceCase& ref : cases) {
    const QuantConfig& c = ref.config;
    SCOPED_TRACE(::testing::Message()
                 << c.bits << " bits, group " << c.group_size << ", sym " << c.symmetric);
    const Matrix& w = ref.m.at("W");
    const RoundingParams p{ref.m.at("V"), ref.m.at("alpha"), ref.m.at("beta")};
    QuantizedMatrix out;
    Quantize(w, p, c, &out);
    // The same float64 operations in the same order: equal to the last bit.
    EXPECT_EQ(out.dequantized, ref.m.at("dequantized"));
    EXPECT_EQ(out.q.cast<double>(), ref.m.at("q"));
    EXPECT_EQ(out.scale, ref.m.at("scale"));
    EXPECT_EQ(out.zero, ref.m.at("zero"));

    RoundingParams grad = InitialRounding(c, w.rows(), w.cols());
    grad.v.setZero();
    grad.alpha.setZero();
    grad.beta.setZero();
    QuantizeBackward(w, p, c, ref.m.at("G"), &grad);
    ExpectNear(grad.v, ref.m.at("dV"), "dV");
    ExpectNear(grad.alpha, ref.m.at("dalpha"), "dalpha");
    ExpectNear(grad.beta, ref.m.at("dbeta"), "dbeta");
    clipped += (grad.v.array() == 0).count();
    thresholded += (out.scale.array().abs() == static_cast<double>(1e-5f)).count();
  }
  // The fixture does reach the clamps.
  EXPECT_GT(clipped, 16);
  EXPECT_GT(thresholded, 16);
}

// Gradients with respect to (V, alpha, beta), zeroed.
RoundingParams ZeroGradient(const QuantConfig& c, int64_t out, int64_t in) {
  RoundingParams g = InitialRounding(c, out, in);
  g.alpha.setZero();
  g.beta.setZero();
  return g;
}

// One group, 2 bits, asymmetric: w = [-0.5, 0.2, 0.6, 1], so lo = -0.5, hi = 1, s = 1.5 / 3 = 0.5,
// zp = round(0.5 / 0.5) = 1 (all exact in binary). With V = [0, 0.3, -0.4, 0.9]:
//   w/s + V = [-1, 0.7, 0.8, 2.9] -> rounded [-1, 1, 1, 3] -> + zp = [0, 2, 2, 4]
//   q = clamp(., 0, 3) = [0, 2, 2, 3] (the last clipped; the first on the bound, which passes)
//   dequantized = 0.5 (q - 1) = [-0.5, 0.5, 0.5, 1].
// Backward with upstream g = [1, -2, 3, 4]:
//   dV = g s [inside] = [0.5, -1, 1.5, 0]
//   ds: directly sum g (q - zp) = -1 - 2 + 3 + 8 = 8; through w/s, -sum_inside g w/s =
//       -(-1 - 0.8 + 3.6) = -1.8; dzp = -s sum_outside g = -2, and through zp = round(-wmin/s),
//       dzp * (-(-wmin/s)/s) = -2 * -2 = 4: ds = 10.2
//   dwmin = -dzp / s - ds/3 = 4 - 3.4 = 0.6, dwmax = ds / 3 = 3.4
//   dalpha = dwmax hi = 3.4, dbeta = dwmin lo = -0.3.
TEST(QuantizerTest, AsymmetricGradientsByHand) {
  const QuantConfig c{2, 4, false};
  const Matrix w = Row({-0.5, 0.2, 0.6, 1.0});
  const RoundingParams p{Row({0, 0.3, -0.4, 0.9}), Row({1}), Row({1})};
  QuantizedMatrix m;
  Quantize(w, p, c, &m);
  EXPECT_EQ(m.scale, Row({0.5}));
  EXPECT_EQ(m.zero, Row({1}));
  EXPECT_EQ(m.q.cast<double>(), Row({0, 2, 2, 3}));
  EXPECT_EQ(m.dequantized, Row({-0.5, 0.5, 0.5, 1}));
  RoundingParams grad = ZeroGradient(c, 1, 4);
  QuantizeBackward(w, p, c, Row({1, -2, 3, 4}), &grad);
  ExpectNear(grad.v, Row({0.5, -1, 1.5, 0}), "dV");
  ExpectNear(grad.alpha, Row({3.4}), "dalpha");
  ExpectNear(grad.beta, Row({-0.3}), "dbeta");
  // The gradient is added, not assigned.
  QuantizeBackward(w, p, c, Row({1, -2, 3, 4}), &grad);
  ExpectNear(grad.v, Row({1, -2, 3, 0}), "dV twice");
  ExpectNear(grad.alpha, Row({6.8}), "dalpha twice");
}

// The same weights, 2 bits symmetric: A = hi = 1 >= B = -lo = 0.5, so the scale is negative,
// s = -A / 2 = -0.5, and the larger side maps to -2. With V = [0.6, 0.3, -0.4, 0.9]:
//   w/s + V = [1.6, -0.1, -1.6, -1.1] -> rounded [2, 0, -2, -1] -> q = clamp(., -2, 1)
//   = [1, 0, -2, -1] (the first clipped, the third on the bound), dequantized = s q
//   = [-0.5, 0, 1, 0.5].
// Backward with g = [1, -2, 3, 4]: dV = g s [inside] = [0, 1, -1.5, -2];
//   ds = sum g q - sum_inside g w/s = -9 - (0.8 - 3.6 - 8) = 1.8;
//   d max(A, B) = ds / 2 * sign(-1) = -0.9, all to A: dalpha = -0.9 hi = -0.9, dbeta = 0.
TEST(QuantizerTest, SymmetricGradientsByHand) {
  const QuantConfig c{2, -1, true};
  const Matrix w = Row({-0.5, 0.2, 0.6, 1.0});
  const RoundingParams p{Row({0.6, 0.3, -0.4, 0.9}), Row({1}), Row({1})};
  QuantizedMatrix m;
  Quantize(w, p, c, &m);
  EXPECT_EQ(m.scale, Row({-0.5}));
  EXPECT_EQ(m.zero, Row({0}));
  EXPECT_EQ(m.q.cast<double>(), Row({1, 0, -2, -1}));
  EXPECT_EQ(m.dequantized, Row({-0.5, 0, 1, 0.5}));
  RoundingParams grad = ZeroGradient(c, 1, 4);
  QuantizeBackward(w, p, c, Row({1, -2, 3, 4}), &grad);
  ExpectNear(grad.v, Row({0, 1, -1.5, -2}), "dV");
  ExpectNear(grad.alpha, Row({-0.9}), "dalpha");
  ExpectNear(grad.beta, Row({0}), "dbeta");
}

// Equal extremes, w = [-1, 0.2, 0.6, 1], V = 0: A = B = 1, a tie, so the scale is -1/2 = -0.5
// and torch.maximum gives each side half the gradient.
//   w/s = [2, -0.4, -1.2, -2] -> q = clamp([2, 0, -1, -2], -2, 1) = [1, 0, -1, -2].
// With g = [1, -2, 3, 4]: ds = sum g q - sum_inside g w/s = -10 - (0.8 - 3.6 - 8) = 0.8;
//   d max = 0.8 / 2 * -1 = -0.4: dA = dB = -0.2, dalpha = dA hi = -0.2, dbeta = -dB lo = -0.2.
TEST(QuantizerTest, SymmetricTieSplitsTheGradient) {
  const QuantConfig c{2, 4, true};
  const Matrix w = Row({-1, 0.2, 0.6, 1.0});
  const RoundingParams p = InitialRounding(c, 1, 4);
  QuantizedMatrix m;
  Quantize(w, p, c, &m);
  EXPECT_EQ(m.scale, Row({-0.5}));
  EXPECT_EQ(m.q.cast<double>(), Row({1, 0, -1, -2}));
  RoundingParams grad = ZeroGradient(c, 1, 4);
  QuantizeBackward(w, p, c, Row({1, -2, 3, 4}), &grad);
  ExpectNear(grad.v, Row({0, 1, -1.5, -2}), "dV");
  ExpectNear(grad.alpha, Row({-0.2}), "dalpha");
  ExpectNear(grad.beta, Row({-0.2}), "dbeta");
}

// auto-round clamps alpha and beta in place, outside the graph (wrapper.py): a value outside
// [0, 1] quantizes and receives the gradient of its clamped value; ClampAlphaBeta does the clamp.
TEST(QuantizerTest, OutOfRangeAlphaBetaActAsTheirClampedValues) {
  Rng rng(5);
  const Matrix w = RandomMatrix(2, 8, -1, 1, &rng), g = RandomMatrix(2, 8, -1, 1, &rng);
  for (bool symmetric : {false, true}) {
    const QuantConfig c{3, 4, symmetric};
    RoundingParams outside{RandomMatrix(2, 8, -0.5, 0.5, &rng), Matrix(2, 2), Matrix(2, 2)};
    outside.alpha << 1.4, -0.3, 0.7, 2.0;
    outside.beta << -0.2, 1.1, 0.8, 0.9;
    RoundingParams inside = outside;
    inside.alpha << 1, 0, 0.7, 1;
    inside.beta << 0, 1, 0.8, 0.9;
    RoundingParams clamped = outside;
    ClampAlphaBeta(&clamped);
    EXPECT_EQ(clamped.alpha, inside.alpha);
    EXPECT_EQ(clamped.beta, inside.beta);
    EXPECT_EQ(clamped.v, outside.v);
    QuantizedMatrix a, b;
    Quantize(w, outside, c, &a);
    Quantize(w, inside, c, &b);
    EXPECT_EQ(a.dequantized, b.dequantized);
    RoundingParams da = ZeroGradient(c, 2, 8), db = ZeroGradient(c, 2, 8);
    QuantizeBackward(w, outside, c, g, &da);
    QuantizeBackward(w, inside, c, g, &db);
    EXPECT_EQ(da.v, db.v);
    EXPECT_EQ(da.alpha, db.alpha);
    EXPECT_EQ(da.beta, db.beta);
    // Not vacuous: the clamped entries do receive a gradient.
    EXPECT_NE(da.alpha(0, 0), 0);
    EXPECT_NE(da.beta(0, 1), 0);
  }
}

// A group whose range is below the threshold gets the scale 1e-5 (as a float32), and the scale
// passes no gradient to alpha or beta. V's gradient still passes inside the clamp, and in the
// asymmetric scheme the zero point round(-lo beta / s) still passes beta its part: with only the
// last weight clipped, dzp = -g_3 s, so dbeta = (-dzp / s) lo = g_3 lo = 4 * -2e-7.
TEST(QuantizerTest, ThresholdedScaleStopsTheRangeGradient) {
  const Matrix w = Row({-2e-7, 1e-7, 3e-7, 4e-7});
  const Matrix g = Row({1, -2, 3, 4});
  const double threshold = 1e-5f;
  for (bool symmetric : {false, true}) {
    const QuantConfig c{4, -1, symmetric};
    const RoundingParams p{Row({0, 0.3, -0.4, 20}), Row({0.9}), Row({0.8})};
    QuantizedMatrix m;
    Quantize(w, p, c, &m);
    EXPECT_EQ(std::abs(m.scale(0, 0)), threshold);
    EXPECT_EQ(m.zero(0, 0), 0);
    RoundingParams grad = ZeroGradient(c, 1, 4);
    QuantizeBackward(w, p, c, g, &grad);
    EXPECT_EQ(grad.alpha(0, 0), 0);
    EXPECT_DOUBLE_EQ(grad.beta(0, 0), symmetric ? 0 : 4 * -2e-7);
    ExpectNear(grad.v, Row({1, -2, 3, 0}) * m.scale(0, 0), "dV");
  }
}

// The straight-through surrogate: Quantize with every rounding (the two round_ste calls and the
// float32 cast of the scale) replaced by x + (round(x0) - x0), x0 its value at a fixed point
// theta0. That is torch's round_ste, (round(x) - x).detach() + x, taken literally: equal to
// Quantize at theta0, and differentiable near it, its exact derivative being the straight-through
// gradient. `offsets` are recorded at theta0 when `record`, and used otherwise.
struct FrozenOffsets {
  Matrix element;  // round(w/s + V) - (w/s + V), out x in.
  Matrix zero;     // round(-wmin/s) - (-wmin/s), out x groups.
  Matrix scale;    // fp32(s0) - s0, out x groups.
};

Matrix Surrogate(const Matrix& w, const RoundingParams& p, const QuantConfig& c, bool record,
                 FrozenOffsets* f, Matrix* pre_clamp = nullptr) {
  const int64_t groups = NumGroups(c, w.cols()), g = w.cols() / groups;
  if (record) {
    f->element.resize(w.rows(), w.cols());
    f->zero.resize(w.rows(), groups);
    f->scale.resize(w.rows(), groups);
  }
  const auto freeze = [record](double x, double rounded, double* offset) {
    if (record) *offset = rounded - x;
    return x + *offset;
  };
  const double q_min = MinQuantized(c), q_max = MaxQuantized(c);
  Matrix y(w.rows(), w.cols());
  if (pre_clamp != nullptr) pre_clamp->resize(w.rows(), w.cols());
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t k = 0; k < groups; ++k) {
      const auto wg = w.row(r).segment(k * g, g);
      const double lo = std::min(wg.minCoeff(), 0.0), hi = std::max(wg.maxCoeff(), 0.0);
      const double a = std::clamp(p.alpha(r, k), 0.0, 1.0), b = std::clamp(p.beta(r, k), 0.0, 1.0);
      double s0, zp = 0;
      if (c.symmetric) {
        s0 = (hi * a < -lo * b ? -lo * b : -hi * a) / -q_min;
      } else {
        s0 = (hi * a - lo * b) / q_max;
      }
      const double s = freeze(s0, static_cast<float>(s0), &f->scale(r, k));
      EXPECT_GT(std::abs(s), 1e-5) << "the threshold's kink is not at theta0";
      if (!c.symmetric) zp = freeze(-(lo * b) / s, std::nearbyint(-(lo * b) / s), &f->zero(r, k));
      for (int64_t j = 0; j < g; ++j) {
        const double u = wg(j) / s + p.v(r, k * g + j);
        const double x = freeze(u, std::nearbyint(u), &f->element(r, k * g + j)) + zp;
        if (pre_clamp != nullptr) (*pre_clamp)(r, k * g + j) = x;
        y(r, k * g + j) = s * (std::clamp(x, q_min, q_max) - zp);
      }
    }
  }
  return y;
}

// Central differences of the surrogate against QuantizeBackward. Quantize itself is piecewise
// constant in V (and in alpha, beta between roundings that flip), so its finite differences are
// 0 or unbounded; the surrogate is smooth near theta0 as long as theta0 sits on no kink of what
// it leaves in place: no pre-clamp integer on a clamp bound (any that is gets its V moved by 1,
// off the bound and out of range), alpha and beta strictly inside (0, 1), no tie between the
// symmetric extremes, no scale at the threshold (random data).
TEST(QuantizerTest, StraightThroughGradientsMatchFiniteDifferencesOfTheSurrogate) {
  constexpr ::optbench::testing::GradientTolerance kTolerance{/*step=*/1e-6, /*abs_tol=*/1e-8,
                                                              /*rel_tol=*/1e-7};
  Rng rng(7);
  int64_t checked = 0;
  for (int bits : kAllBits) {
    for (int64_t group : {4, -1}) {
      for (bool symmetric : {false, true}) {
        const QuantConfig c{bits, group, symmetric};
        SCOPED_TRACE(::testing::Message()
                     << bits << " bits, group " << group << ", sym " << symmetric);
        const int64_t groups = NumGroups(c, 8);
        const Matrix w = RandomMatrix(3, 8, -1, 1, &rng), g = RandomMatrix(3, 8, -1, 1, &rng);
        RoundingParams p{RandomMatrix(3, 8, -0.45, 0.45, &rng),
                         RandomMatrix(3, groups, 0.6, 0.95, &rng),
                         RandomMatrix(3, groups, 0.6, 0.95, &rng)};
        FrozenOffsets f;
        Matrix x;
        Surrogate(w, p, c, /*record=*/true, &f, &x);
        for (Eigen::Index i = 0; i < x.size(); ++i) {
          if (x.data()[i] == MinQuantized(c)) p.v.data()[i] -= 1;
          if (x.data()[i] == MaxQuantized(c)) p.v.data()[i] += 1;
        }
        const Matrix y0 = Surrogate(w, p, c, /*record=*/true, &f, &x);
        QuantizedMatrix m;
        Quantize(w, p, c, &m);
        ASSERT_EQ(y0, m.dequantized);  // The surrogate is Quantize at theta0, to the bit.
        ASSERT_EQ((x.array() == MinQuantized(c) || x.array() == MaxQuantized(c)).count(), 0);

        RoundingParams grad = ZeroGradient(c, 3, 8);
        QuantizeBackward(w, p, c, g, &grad);
        const ::optbench::testing::GradientCheckResult r = ::optbench::testing::CheckGradient(
            {{"v", &p.v, &grad.v}, {"alpha", &p.alpha, &grad.alpha}, {"beta", &p.beta, &grad.beta}},
            [&] { return Surrogate(w, p, c, /*record=*/false, &f).cwiseProduct(g).sum(); },
            kTolerance);
        EXPECT_TRUE(r.ok());
        EXPECT_GT(r.max_abs_numeric, 0.01);
        checked += r.entries_checked;
      }
    }
  }
  EXPECT_EQ(checked, 4 * (2 * 3 * (8 + 2 + 2) + 2 * 3 * (8 + 1 + 1)));
}

}  // namespace
}  // namespace optbench::engine
