// The convex ReLU program (worker/engine/convex/convex_relu.h): its gradients by central finite
// differences, the prox, pattern sampling, weight recovery, the robust upper bound, and the
// solver against optima computed independently (fixtures/make_fixtures.py, SciPy).
#include "worker/engine/convex/convex_relu.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

// A small random problem: n points in [0,1]^dim plus the bias column, sampled patterns.
ConvexReluProblem MakeProblem(ConvexLoss loss, int64_t n, int64_t dim, int64_t patterns,
                              uint64_t seed) {
  Rng rng(seed);
  ConvexReluProblem p;
  p.x.resize(n, dim + 1);
  p.y.resize(n);
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t t = 0; t < dim; ++t) p.x(k, t) = rng.Uniform();
    p.x(k, dim) = 1;
    const double s = p.x.row(k).head(dim).sum() - 0.5 * dim + 0.3 * rng.Normal();
    p.y(k) = loss == ConvexLoss::kSquared ? s : (s >= 0 ? 1.0 : -1.0);
  }
  p.d = SamplePatterns(p.x, patterns, seed + 1);
  p.loss = loss;
  p.beta = 0.01;
  p.epsilon = 0.05;
  p.attackable = dim;
  return p;
}

MatrixD RandomPoint(const ConvexReluProblem& p, uint64_t seed) {
  Rng rng(seed);
  MatrixD u(2 * p.patterns(), p.dim());
  for (int64_t j = 0; j < u.rows(); ++j) {
    for (int64_t t = 0; t < u.cols(); ++t) u(j, t) = 0.5 * rng.Normal();
  }
  return u;
}

// Central differences of SmoothValue in every coordinate of U.
void ExpectGradientMatches(const ConvexReluProblem& p, const PenaltyTerms& terms,
                           const MatrixD& u) {
  MatrixD grad;
  SmoothValue(p, terms, u, &grad);
  const double h = 1e-6;
  double worst = 0;
  for (int64_t j = 0; j < u.rows(); ++j) {
    for (int64_t t = 0; t < u.cols(); ++t) {
      MatrixD plus = u, minus = u;
      plus(j, t) += h;
      minus(j, t) -= h;
      const double fd =
          (SmoothValue(p, terms, plus, nullptr) - SmoothValue(p, terms, minus, nullptr)) / (2 * h);
      worst = std::max(worst, std::abs(fd - grad(j, t)) / (1 + std::abs(fd)));
    }
  }
  EXPECT_LT(worst, 1e-6) << ConvexLossName(p.loss) << " delta " << terms.delta << " mu "
                         << terms.mu;
}

TEST(ConvexReluTest, GradientMatchesFiniteDifferencesForEveryLoss) {
  for (ConvexLoss loss : {ConvexLoss::kSquared, ConvexLoss::kLogistic, ConvexLoss::kHinge,
                          ConvexLoss::kRobustHinge}) {
    const ConvexReluProblem p = MakeProblem(loss, 12, 3, 20, 7);
    const MatrixD u = RandomPoint(p, 3);
    MatrixD gamma = MatrixD::Zero(p.n(), 2 * p.patterns());
    Rng rng(9);
    for (int64_t k = 0; k < gamma.rows(); ++k) {
      for (int64_t j = 0; j < gamma.cols(); ++j)
        gamma(k, j) = rng.Uniform() < 0.5 ? 0 : rng.Uniform();
    }
    const double mu = IsSmooth(loss) ? 0 : 0.05;
    ExpectGradientMatches(p, PenaltyTerms{nullptr, 0, mu}, u);
    ExpectGradientMatches(p, PenaltyTerms{nullptr, 3.0, mu}, u);
    ExpectGradientMatches(p, PenaltyTerms{&gamma, 3.0, mu}, u);
  }
}

TEST(ConvexReluTest, PenalizedSubgradientMatchesFiniteDifferencesAwayFromZeroGroups) {
  const ConvexReluProblem p = MakeProblem(ConvexLoss::kLogistic, 10, 2, 12, 11);
  const MatrixD u = RandomPoint(p, 5);
  MatrixD grad;
  PenalizedSubgradient(p, 10.0, u, &grad);
  const double h = 1e-6;
  for (int64_t j = 0; j < u.rows(); ++j) {
    for (int64_t t = 0; t < u.cols(); ++t) {
      MatrixD plus = u, minus = u;
      plus(j, t) += h;
      minus(j, t) -= h;
      const double fd =
          (PenalizedObjective(p, 10.0, plus) - PenalizedObjective(p, 10.0, minus)) / (2 * h);
      EXPECT_NEAR(grad(j, t), fd, 1e-6 * (1 + std::abs(fd))) << j << "," << t;
    }
  }
  // The penalty term by hand: (rho / 2n) sum over examples k and groups j of
  // min(0, (2 d_ik - 1) x_k . u_j)^2 (i the pattern of group j), and F_rho is linear in rho.
  double squares = 0;
  for (int64_t j = 0; j < u.rows(); ++j) {
    const int64_t i = j % p.patterns();
    for (int64_t k = 0; k < p.n(); ++k) {
      const double c = (2 * p.d(k, i) - 1) * p.x.row(k).dot(u.row(j));
      squares += std::min(0.0, c) * std::min(0.0, c);
    }
  }
  ASSERT_GT(squares, 0);
  EXPECT_NEAR(PenalizedObjective(p, 10.0, u) - PenalizedObjective(p, 4.0, u),
              (10.0 - 4.0) / (2.0 * p.n()) * squares, 1e-12 * (1 + squares));
}

TEST(ConvexReluTest, SmoothedHingeIsWithinHalfMuOfTheHinge) {
  const ConvexReluProblem p = MakeProblem(ConvexLoss::kHinge, 30, 3, 20, 2);
  const MatrixD u = RandomPoint(p, 8) * 0.1;
  const double exact = ExampleLosses(p, u).mean();
  const double mu = 0.1;
  const double smooth = SmoothValue(p, PenaltyTerms{nullptr, 0, mu}, u, nullptr);
  EXPECT_LE(smooth, exact + 1e-15);
  EXPECT_GE(smooth, exact - mu / 2 - 1e-15);
}

TEST(ConvexReluTest, ProxShrinksEachGroupAndZeroesSmallOnes) {
  MatrixD u(3, 2);
  u << 3, 4,     // norm 5
      0.3, 0.4,  // norm 0.5
      0, 0;
  ProxGroupLasso(1.0, &u);
  EXPECT_DOUBLE_EQ(u(0, 0), 3 * 0.8);
  EXPECT_DOUBLE_EQ(u(0, 1), 4 * 0.8);
  EXPECT_EQ(u.row(1).norm(), 0);
  EXPECT_EQ(u.row(2).norm(), 0);
}

TEST(ConvexReluTest, PatternsAreDistinctNonEmptyAndMatchTheirGates) {
  const ConvexReluProblem p = MakeProblem(ConvexLoss::kSquared, 40, 2, 500, 1);
  ASSERT_GT(p.patterns(), 10);
  EXPECT_LT(p.patterns(), 500);  // 40 points in 2-D + bias have far fewer than 500 cells.
  std::set<std::vector<int>> seen;
  for (int64_t i = 0; i < p.patterns(); ++i) {
    std::vector<int> col(p.n());
    int on = 0;
    for (int64_t k = 0; k < p.n(); ++k) {
      col[k] = static_cast<int>(p.d(k, i));
      ASSERT_TRUE(col[k] == 0 || col[k] == 1);
      on += col[k];
    }
    EXPECT_GT(on, 0);
    EXPECT_TRUE(seen.insert(col).second) << "pattern " << i << " repeats";
  }
  // Deterministic for a seed; another seed draws other gates.
  EXPECT_EQ(SamplePatterns(p.x, 500, 2), p.d);
  EXPECT_NE(SamplePatterns(p.x, 30, 3), SamplePatterns(p.x, 30, 4));
}

// After solving, the constraints hold, and the recovered network reproduces the convex
// model's predictions and pays the group-lasso term as weight decay.
TEST(ConvexReluTest, RecoveredNetworkReproducesTheConvexPredictions) {
  for (ConvexLoss loss : {ConvexLoss::kSquared, ConvexLoss::kLogistic, ConvexLoss::kRobustHinge}) {
    const ConvexReluProblem p = MakeProblem(loss, 40, 2, 60, 21);
    AugmentedLagrangianOptions options;
    options.tolerance = 1e-8;
    options.max_iters = 200000;
    options.max_outer = 1000;
    const SolveResult solved = SolveConstrained(p, options, nullptr);
    EXPECT_TRUE(solved.converged || !IsSmooth(loss)) << ConvexLossName(loss);
    const ConvexValue value = Evaluate(p, solved.u);
    // The robust constraints are solved with their l1 norm smoothed: each entry may fall short
    // by eps mu / 2 per attackable feature, in the columns of the active groups only.
    const double smoothing = p.robust_epsilon() * p.attackable * options.mu / 2 *
                             std::sqrt(static_cast<double>(p.n())) * value.active_groups;
    EXPECT_LT(value.violation, 1e-6 + smoothing) << ConvexLossName(loss);
    const ReluNetwork net = RecoverNetwork(solved.u);
    EXPECT_EQ(net.neurons(), value.active_groups);
    EXPECT_GT(net.neurons(), 0);
    const VectorD convex = Predict(p, solved.u);
    const VectorD relu = net.Predict(p.x);
    EXPECT_LT((convex - relu).cwiseAbs().maxCoeff(), 1e-5) << ConvexLossName(loss);
    EXPECT_NEAR(net.WeightDecay(p.beta), value.group, 1e-12 * (1 + value.group));
  }
}

// ALGORITHMS.md 4.4: the robust objective bounds the recovered network's hinge loss under any
// attack in the l_inf ball from above. Checked against PGD on the margin (40 steps, random
// start) for every training point.
TEST(ConvexReluTest, RobustObjectiveBoundsThePgdAdversarialLoss) {
  ConvexReluProblem p = MakeProblem(ConvexLoss::kRobustHinge, 40, 2, 60, 5);
  p.epsilon = 0.05;
  AugmentedLagrangianOptions options;
  options.tolerance = 1e-8;
  options.max_iters = 20000;
  const SolveResult solved = SolveConstrained(p, options, nullptr);
  const ReluNetwork net = RecoverNetwork(solved.u);
  const VectorD robust = ExampleLosses(p, solved.u);
  Rng rng(3);
  const int64_t features = p.attackable;
  double total_adversarial = 0;
  for (int64_t k = 0; k < p.n(); ++k) {
    const Eigen::RowVectorXd x = p.x.row(k);
    double worst = 0;
    for (int restart = 0; restart < 4; ++restart) {
      Eigen::RowVectorXd z = x;
      for (int64_t t = 0; t < features; ++t) z(t) += p.epsilon * (2 * rng.Uniform() - 1);
      for (int step = 0; step < 40; ++step) {
        // Gradient of the margin -y f(z): -y sum_j alpha_j 1[z.u_j > 0] u_j.
        Eigen::RowVectorXd g = Eigen::RowVectorXd::Zero(z.size());
        for (int64_t j = 0; j < net.neurons(); ++j) {
          if (z.dot(net.weights.row(j)) > 0) g += net.alpha(j) * net.weights.row(j);
        }
        g *= -p.y(k);
        for (int64_t t = 0; t < features; ++t) {
          const double s = g(t) > 0 ? 1 : (g(t) < 0 ? -1 : 0);
          z(t) = std::clamp(z(t) + 0.25 * p.epsilon * s, x(t) - p.epsilon, x(t) + p.epsilon);
        }
        const double f = net.Predict(z).value();
        worst = std::max(worst, std::max(0.0, 1 - p.y(k) * f));
      }
    }
    EXPECT_LE(worst, robust(k) + 1e-5) << "point " << k;
    total_adversarial += worst;
  }
  EXPECT_LE(total_adversarial / p.n(), Evaluate(p, solved.u).loss + 1e-6);
}

// A fixture case written by fixtures/make_fixtures.py.
struct Fixture {
  std::string name;
  ConvexReluProblem problem;
  double optimum = 0;
  double tolerance = 0;
};

bool ReadFixture(const std::string& path, Fixture* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream body;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '#') continue;
    body << line << '\n';
  }
  out->name = path;
  std::string word, loss;
  int64_t n = 0, d = 0, patterns = 0;
  body >> word >> loss;
  if (word != "loss") return false;
  if (loss == "squared") out->problem.loss = ConvexLoss::kSquared;
  if (loss == "logistic") out->problem.loss = ConvexLoss::kLogistic;
  if (loss == "hinge") out->problem.loss = ConvexLoss::kHinge;
  if (loss == "robust_hinge") out->problem.loss = ConvexLoss::kRobustHinge;
  body >> word >> n >> word >> d >> word >> patterns;
  body >> word >> out->problem.beta >> word >> out->problem.epsilon;
  ConvexReluProblem& p = out->problem;
  p.x.resize(n, d);
  p.y.resize(n);
  p.d.resize(n, patterns);
  body >> word;
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t t = 0; t < d; ++t) body >> p.x(k, t);
  }
  body >> word;
  for (int64_t k = 0; k < n; ++k) body >> p.y(k);
  body >> word;
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t i = 0; i < patterns; ++i) body >> p.d(k, i);
  }
  body >> word >> out->optimum >> word >> out->tolerance >> word;
  p.attackable = d - 1;
  return word == "end" && static_cast<bool>(body);
}

// The smooth losses reach the interior-point optimum to its tolerance. The hinge's smoothed
// program is within mu/2 of the hinge's at every point; its rounds get 10,000 iterations each
// (with the default 1,000 the same budget ends 3.6e-3 above the optimum: long rounds at each
// width are what the smoothed problem needs). The robust hinge, whose smoothed l1 norm sits in
// the constraints too, is solved only approximately: measured 5.8e-4 above the optimum of 0.413
// with violation 1.0e-4 (ROADMAP.md has it as open work).
TEST(ConvexReluTest, SolverReachesIndependentlyComputedOptima) {
  const std::string dir =
      std::string(OPTBENCH_SOURCE_DIR) + "/tests/worker/engine/convex/fixtures/";
  int cases = 0;
  for (const char* name :
       {"squared.txt", "logistic.txt", "hinge.txt", "robust_hinge.txt", "squared_sparse.txt"}) {
    Fixture f;
    if (!ReadFixture(dir + name, &f)) {
      ADD_FAILURE() << "cannot read fixture " << dir + name;
      continue;
    }
    ++cases;
    AugmentedLagrangianOptions options;
    options.tolerance = 1e-9;
    options.max_iters = 100000;
    options.max_outer = 100;
    options.mu = 1e-4;
    if (!IsSmooth(f.problem.loss)) options.max_inner = 10000;
    if (f.problem.loss == ConvexLoss::kRobustHinge) options.max_iters = 200000;
    const SolveResult solved = SolveConstrained(f.problem, options, nullptr);
    const ConvexValue value = Evaluate(f.problem, solved.u);
    const std::string what = std::string(name) + ": " + std::to_string(solved.iterations) +
                             " iterations, converged " + std::to_string(solved.converged);
    if (f.problem.loss == ConvexLoss::kRobustHinge) {
      EXPECT_LT(value.violation, 2e-4) << what;
      EXPECT_NEAR(value.objective(), f.optimum, 1e-3) << what;
      continue;
    }
    EXPECT_LT(value.violation, 1e-6) << what;
    // The hinge's smoothed objective is within mu/2 of the hinge's at every point.
    const double smoothing = IsSmooth(f.problem.loss) ? 0 : options.mu / 2;
    EXPECT_NEAR(value.objective(), f.optimum, f.tolerance + smoothing + 1e-7) << what;
  }
  EXPECT_EQ(cases, 5);
}

}  // namespace
}  // namespace optbench::engine
