#include "worker/engine/convex/convex_relu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_set>
#include <utility>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// Huber smoothing of |b| at width mu (mu = 0: |b| itself) and its derivative.
double SmoothAbs(double b, double mu) {
  const double a = std::abs(b);
  if (a >= mu) return a - 0.5 * mu;
  return b * b / (2 * mu);
}
double SmoothAbsDerivative(double b, double mu) {
  if (mu == 0) return b > 0 ? 1.0 : (b < 0 ? -1.0 : 0.0);
  return std::clamp(b / mu, -1.0, 1.0);
}
// Huber smoothing of max(0, z) at width mu and its derivative.
double SmoothHinge(double z, double mu) {
  if (z <= 0) return 0;
  if (z >= mu) return z - 0.5 * mu;
  return z * z / (2 * mu);
}
double SmoothHingeDerivative(double z, double mu) {
  if (mu == 0) return z > 0 ? 1.0 : 0.0;
  return std::clamp(z / mu, 0.0, 1.0);
}
double Softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }
double Sigmoid(double z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

// sum_t SmoothAbs(row_t) over the attackable leading entries of `row`.
template <typename Row>
double AttackableNorm1(const Row& row, int64_t attackable, double mu) {
  double s = 0;
  for (int64_t t = 0; t < attackable; ++t) s += SmoothAbs(row(t), mu);
  return s;
}

// B = M U = D (V - W): n x d.
MatrixD Combined(const ConvexReluProblem& p, const MatrixD& u) {
  const int64_t np = p.patterns();
  return p.d * (u.topRows(np) - u.bottomRows(np));
}

// The per-example losses at U with smoothing mu; when `a` and `bgrad` are not null, also
// dl_k/dyhat_k and dl_k/dB_k (unscaled by 1/n).
VectorD Losses(const ConvexReluProblem& p, const MatrixD& b, double mu, VectorD* a,
               MatrixD* bgrad) {
  const int64_t n = p.n();
  VectorD yhat = (p.x.array() * b.array()).rowwise().sum();
  VectorD out(n);
  if (a != nullptr) a->resize(n);
  const bool robust = p.loss == ConvexLoss::kRobustHinge;
  if (bgrad != nullptr && robust) bgrad->setZero(n, p.dim());
  for (int64_t k = 0; k < n; ++k) {
    const double y = p.y(k);
    switch (p.loss) {
      case ConvexLoss::kSquared: {
        const double r = yhat(k) - y;
        out(k) = 0.5 * r * r;
        if (a != nullptr) (*a)(k) = r;
        break;
      }
      case ConvexLoss::kLogistic: {
        const double z = -y * yhat(k);
        out(k) = Softplus(z);
        if (a != nullptr) (*a)(k) = -y * Sigmoid(z);
        break;
      }
      case ConvexLoss::kHinge: {
        const double z = 1 - y * yhat(k);
        out(k) = mu == 0 ? std::max(0.0, z) : SmoothHinge(z, mu);
        if (a != nullptr) (*a)(k) = -y * SmoothHingeDerivative(z, mu);
        break;
      }
      case ConvexLoss::kRobustHinge: {
        const double z = 1 - y * yhat(k) + p.epsilon * AttackableNorm1(b.row(k), p.attackable, mu);
        out(k) = mu == 0 ? std::max(0.0, z) : SmoothHinge(z, mu);
        const double h = SmoothHingeDerivative(z, mu);
        if (a != nullptr) (*a)(k) = -y * h;
        if (bgrad != nullptr && h != 0) {
          for (int64_t t = 0; t < p.attackable; ++t) {
            (*bgrad)(k, t) = h * p.epsilon * SmoothAbsDerivative(b(k, t), mu);
          }
        }
        break;
      }
    }
  }
  return out;
}

// C = S o (X U^T) - eps 1 r^T (n x 2P), with the l1 norms smoothed at mu.
MatrixD Constraints(const ConvexReluProblem& p, const MatrixD& u, double mu) {
  const int64_t np = p.patterns();
  MatrixD c = p.x * u.transpose();
  c.leftCols(np).array() *= (2 * p.d.array() - 1);
  c.rightCols(np).array() *= (2 * p.d.array() - 1);
  const double eps = p.robust_epsilon();
  if (eps > 0) {
    for (int64_t j = 0; j < u.rows(); ++j) {
      c.col(j).array() -= eps * AttackableNorm1(u.row(j), p.attackable, mu);
    }
  }
  return c;
}

}  // namespace

const char* ConvexLossName(ConvexLoss loss) {
  switch (loss) {
    case ConvexLoss::kSquared:
      return "squared";
    case ConvexLoss::kLogistic:
      return "logistic";
    case ConvexLoss::kHinge:
      return "hinge";
    case ConvexLoss::kRobustHinge:
      return "robust_hinge";
  }
  return "?";
}

bool IsSmooth(ConvexLoss loss) {
  return loss == ConvexLoss::kSquared || loss == ConvexLoss::kLogistic;
}

MatrixD SamplePatterns(const MatrixD& x, int64_t count, uint64_t seed) {
  const int64_t n = x.rows();
  const int64_t d = x.cols();
  Rng rng(seed, RngStream::kPatterns);
  MatrixD gates(d, count);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t t = 0; t < d; ++t) gates(t, i) = rng.Normal();
  }
  const MatrixD z = x * gates;
  const int64_t words = (n + 63) / 64;
  std::unordered_set<std::string> seen;
  std::vector<int64_t> kept;
  std::string key(static_cast<size_t>(words) * sizeof(uint64_t), '\0');
  for (int64_t i = 0; i < count; ++i) {
    std::vector<uint64_t> bits(words, 0);
    bool any = false;
    for (int64_t k = 0; k < n; ++k) {
      if (z(k, i) >= 0) {
        bits[k / 64] |= uint64_t{1} << (k % 64);
        any = true;
      }
    }
    if (!any) continue;
    std::memcpy(key.data(), bits.data(), key.size());
    if (seen.insert(key).second) kept.push_back(i);
  }
  MatrixD out(n, static_cast<int64_t>(kept.size()));
  for (size_t c = 0; c < kept.size(); ++c) {
    for (int64_t k = 0; k < n; ++k) out(k, c) = z(k, kept[c]) >= 0 ? 1.0 : 0.0;
  }
  return out;
}

VectorD Predict(const ConvexReluProblem& problem, const MatrixD& u) {
  const MatrixD b = Combined(problem, u);
  return (problem.x.array() * b.array()).rowwise().sum();
}

VectorD ExampleLosses(const ConvexReluProblem& problem, const MatrixD& u) {
  return Losses(problem, Combined(problem, u), 0, nullptr, nullptr);
}

ConvexValue Evaluate(const ConvexReluProblem& problem, const MatrixD& u) {
  ConvexValue out;
  out.loss = ExampleLosses(problem, u).mean();
  const VectorD norms = u.rowwise().norm();
  out.group = problem.beta * norms.sum();
  out.active_groups = (norms.array() > 0).count();
  const MatrixD c = Constraints(problem, u, 0);
  out.violation = c.cwiseMin(0.0).colwise().norm().sum();
  return out;
}

double SmoothValue(const ConvexReluProblem& p, const PenaltyTerms& terms, const MatrixD& u,
                   MatrixD* grad) {
  const int64_t n = p.n();
  const int64_t np = p.patterns();
  const MatrixD b = Combined(p, u);
  VectorD a;
  MatrixD bgrad;
  const VectorD losses =
      Losses(p, b, terms.mu, grad != nullptr ? &a : nullptr, grad != nullptr ? &bgrad : nullptr);
  double value = losses.sum() / n;
  if (grad != nullptr) {
    // G_k = (a_k x_k + dl_k/dB_k) / n; dU = M^T G = [D^T G; -D^T G].
    MatrixD g = p.x.array().colwise() * a.array();
    if (bgrad.size() > 0) g += bgrad;
    g /= static_cast<double>(n);
    grad->resize(u.rows(), u.cols());
    grad->topRows(np).noalias() = p.d.transpose() * g;
    grad->bottomRows(np) = -grad->topRows(np);
  }
  if (terms.delta > 0) {
    const MatrixD c = Constraints(p, u, terms.mu);
    // Z = (Gamma - delta C)_+; the term is ||Z||^2 / (2 delta), its gradient in C is -Z.
    MatrixD z = -terms.delta * c;
    if (terms.multipliers != nullptr) z += *terms.multipliers;
    z = z.cwiseMax(0.0);
    value += z.squaredNorm() / (2 * terms.delta);
    if (grad != nullptr) {
      // dC/dK = S, so the K gradient is -Z o S; dU += (-Z o S)^T X.
      MatrixD q = -z;
      q.leftCols(np).array() *= (2 * p.d.array() - 1);
      q.rightCols(np).array() *= (2 * p.d.array() - 1);
      grad->noalias() += q.transpose() * p.x;
      const double eps = p.robust_epsilon();
      if (eps > 0) {
        // C_kj = ... - eps r_j: dU_jt += eps sum_k Z_kj r_j'(u_jt).
        const VectorD zsum = z.colwise().sum();
        for (int64_t j = 0; j < u.rows(); ++j) {
          if (zsum(j) == 0) continue;
          for (int64_t t = 0; t < p.attackable; ++t) {
            (*grad)(j, t) += eps * zsum(j) * SmoothAbsDerivative(u(j, t), terms.mu);
          }
        }
      }
    }
  }
  return value;
}

namespace {
// The penalty form's term is (rho / 2n) sum ||(-C)_+||^2: the SmoothValue penalty at delta = rho/n.
double PenaltyWeight(const ConvexReluProblem& problem, double rho) {
  return rho / static_cast<double>(problem.n());
}
}  // namespace

double PenalizedObjective(const ConvexReluProblem& problem, double rho, const MatrixD& u) {
  return SmoothValue(problem, PenaltyTerms{nullptr, PenaltyWeight(problem, rho), 0}, u, nullptr) +
         problem.beta * u.rowwise().norm().sum();
}

void PenalizedSubgradient(const ConvexReluProblem& problem, double rho, const MatrixD& u,
                          MatrixD* grad) {
  SmoothValue(problem, PenaltyTerms{nullptr, PenaltyWeight(problem, rho), 0}, u, grad);
  for (int64_t j = 0; j < u.rows(); ++j) {
    const double norm = u.row(j).norm();
    if (norm > 0) grad->row(j) += (problem.beta / norm) * u.row(j);
  }
}

void ProxGroupLasso(double threshold, MatrixD* u) {
  for (int64_t j = 0; j < u->rows(); ++j) {
    const double norm = u->row(j).norm();
    if (norm <= threshold) {
      u->row(j).setZero();
    } else {
      u->row(j) *= 1 - threshold / norm;
    }
  }
}

namespace {

// Restarted FISTA with backtracking on f(x) + g(x): `smooth` gives f and (when its second
// argument is not null) its gradient, `prox` applies g's prox at step 1/L in place.
template <typename T>
FistaState FistaLoop(const std::function<double(const T&, T*)>& smooth,
                     const std::function<void(double, T*)>& prox, const FistaOptions& options,
                     double lipschitz, T* start,
                     const std::function<bool(int64_t, const T&)>& on_iteration) {
  FistaState state;
  state.lipschitz = lipschitz > 0 ? lipschitz : 1.0;
  T x = *start;
  T y = x;
  T grad;
  T z;
  double t = 1;
  double& l = state.lipschitz;
  for (int64_t it = 1; it <= options.max_iters; ++it) {
    const double fy = smooth(y, &grad);
    l *= 0.8;  // Let the step grow back after a backtrack.
    double mapping = 0;
    while (true) {
      z = y - grad / l;
      prox(1 / l, &z);
      const double fz = smooth(z, nullptr);
      const double step2 = (z - y).squaredNorm();
      const double model = fy + (grad.array() * (z - y).array()).sum() + 0.5 * l * step2;
      if (fz <= model + 1e-13 * (1 + std::abs(fy)) || !std::isfinite(l) || l > 1e300) {
        mapping = l * std::sqrt(step2);
        break;
      }
      l *= 2;
    }
    // Gradient restart: the momentum points against the prox-gradient step.
    if (((y - z).array() * (z - x).array()).sum() > 0) t = 1;
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    y = z + ((t - 1) / t_next) * (z - x);
    x.swap(z);
    t = t_next;
    state.iterations = it;
    const bool keep_going = !on_iteration || on_iteration(it, x);
    if (mapping <= options.tolerance) {
      state.converged = true;
      break;
    }
    if (!keep_going) break;
  }
  *start = std::move(x);
  return state;
}

}  // namespace

FistaState MinimizeFista(const ConvexReluProblem& problem, const PenaltyTerms& terms,
                         const FistaOptions& options, double lipschitz, MatrixD* u,
                         const std::function<bool(int64_t, const MatrixD&)>& on_iteration) {
  return FistaLoop<MatrixD>(
      [&](const MatrixD& x, MatrixD* grad) { return SmoothValue(problem, terms, x, grad); },
      [&](double step, MatrixD* x) { ProxGroupLasso(problem.beta * step, x); }, options, lipschitz,
      u, on_iteration);
}

SolveResult SolveConstrained(const ConvexReluProblem& problem,
                             const AugmentedLagrangianOptions& options,
                             const std::function<bool(int64_t, const MatrixD&)>& on_iteration) {
  SolveResult out;
  out.u = MatrixD::Zero(2 * problem.patterns(), problem.dim());
  MatrixD gamma = MatrixD::Zero(problem.n(), 2 * problem.patterns());
  out.delta = options.initial_delta > 0 ? options.initial_delta
                                        : std::min(1.0, 100.0 / static_cast<double>(problem.n()));
  const double max_delta = out.delta * 1e3;
  const bool smoothed = !IsSmooth(problem.loss);
  // Hinge losses: smoothing continued from 0.1 down to options.mu, halved every round (each
  // round warm-starts from the last; a small width from the start conditions FISTA badly).
  double mu = smoothed ? std::max(options.mu, 0.1) : 0;
  double lipschitz = 1;
  double previous_violation = std::numeric_limits<double>::infinity();
  bool stopped = false;
  for (int64_t outer = 0; outer < options.max_outer && out.iterations < options.max_iters;
       ++outer) {
    const int64_t offset = out.iterations;
    FistaOptions inner;
    inner.max_iters = std::min(options.max_iters - offset, options.max_inner);
    // Early rounds need not be solved finely: their multipliers are about to change.
    inner.tolerance = std::max(options.tolerance, 1e-3 * std::pow(0.3, outer));
    const FistaState st = MinimizeFista(problem, PenaltyTerms{&gamma, out.delta, mu}, inner,
                                        lipschitz, &out.u, [&](int64_t it, const MatrixD& u) {
                                          const bool go =
                                              !on_iteration || on_iteration(offset + it, u);
                                          if (!go) stopped = true;
                                          return go;
                                        });
    lipschitz = st.lipschitz;
    out.iterations += st.iterations;
    out.outer = outer + 1;
    const MatrixD c = Constraints(problem, out.u, mu);
    const double violation = c.cwiseMin(0.0).colwise().norm().sum();
    gamma = (gamma - out.delta * c).cwiseMax(0.0);
    if (violation <= options.tolerance && st.converged && inner.tolerance <= options.tolerance &&
        mu <= options.mu) {
      out.converged = true;
      break;
    }
    if (stopped) break;
    // A large penalty makes the inner problems ill-conditioned and the multipliers do the
    // work: grow it gently, only while the violation stalls, and for the smooth losses only
    // after an inner solve that converged (a stall after an inexact one is the inner solve's,
    // not the penalty's). The smoothed hinge's inner solves rarely converge: there a stall
    // grows it. (Measured on a 60-point problem: fewer iterations and lower objectives than
    // either rule for both.)
    const bool trust_stall = st.converged || smoothed;
    if (trust_stall && violation > 0.5 * previous_violation && out.delta < max_delta) {
      out.delta *= 2;
      lipschitz *= 2;
    }
    previous_violation = violation;
    if (smoothed) mu = std::max(options.mu, mu * 0.5);
  }
  return out;
}

SolveResult SolvePenalized(const ConvexReluProblem& problem, double rho, int64_t max_iters,
                           double tolerance) {
  OPTBENCH_CHECK(IsSmooth(problem.loss));
  SolveResult out;
  out.u = MatrixD::Zero(2 * problem.patterns(), problem.dim());
  FistaOptions options;
  options.max_iters = max_iters;
  options.tolerance = tolerance;
  const FistaState st =
      MinimizeFista(problem, PenaltyTerms{nullptr, PenaltyWeight(problem, rho), 0}, options, 1.0,
                    &out.u, nullptr);
  out.iterations = st.iterations;
  out.converged = st.converged;
  out.delta = rho;
  return out;
}

VectorD ReluNetwork::Predict(const MatrixD& x) const {
  if (neurons() == 0) return VectorD::Zero(x.rows());
  return (x * weights.transpose()).cwiseMax(0.0) * alpha;
}

double ReluNetwork::WeightDecay(double beta) const {
  return 0.5 * beta * (weights.squaredNorm() + alpha.squaredNorm());
}

ReluNetwork RecoverNetwork(const MatrixD& u) {
  const int64_t np = u.rows() / 2;
  std::vector<int64_t> rows;
  for (int64_t j = 0; j < u.rows(); ++j) {
    if (u.row(j).squaredNorm() > 0) rows.push_back(j);
  }
  ReluNetwork net;
  net.weights.resize(static_cast<int64_t>(rows.size()), u.cols());
  net.alpha.resize(static_cast<int64_t>(rows.size()));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t j = rows[r];
    const double root = std::sqrt(u.row(j).norm());
    net.weights.row(r) = u.row(j) / root;
    net.alpha(r) = j < np ? root : -root;
  }
  return net;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
