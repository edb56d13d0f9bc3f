// The convex twin of a one-hidden-layer ReLU network (paper 4; ALGORITHMS.md 4.1-4.5): sampled
// activation patterns, the convex program's objective and constraints for the squared, logistic,
// hinge and robust l_inf hinge losses, its exact solver (augmented Lagrangian + restarted FISTA,
// in the style of pilancilab/scnn), the quadratic-penalty form that any optimizer can minimize,
// and the recovery of the ReLU network. Everything here is float64 whatever the engine's
// precision: the solver's answer is the reference every optimizer is scored against.
//
// Notation. X (n x d) holds the examples as rows, the last column the constant 1 when the network
// has a bias (the bias is never attacked: `attackable` features are the first ones). D (n x P) is
// 0/1, column i the diagonal of the pattern D_i. The variables are stacked as U (2P x d): row i =
// v_i, row P + i = w_i. With the signed mask M = [D, -D] (n x 2P) and S = [2D - 1, 2D - 1]:
//   prediction  yhat_k = x_k . B_k,  B = M U  (n x d; B_k = sum_i d_ik (v_i - w_i))
//   constraints C = S o (X U^T) - eps 1 r^T >= 0,  r_j = ||u_j[attackable]||_1 (robust only)
//   objective   (1/n) sum_k l(yhat_k, y_k, B_k) + beta sum_j ||u_j||_2
#ifndef OPTBENCH_WORKER_ENGINE_CONVEX_CONVEX_RELU_H_
#define OPTBENCH_WORKER_ENGINE_CONVEX_CONVEX_RELU_H_

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "worker/engine/precision.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

using MatrixD = Eigen::MatrixXd;  // Column-major float64.
using VectorD = Eigen::VectorXd;

enum class ConvexLoss {
  kSquared,      // 1/2 (yhat - y)^2
  kLogistic,     // log(1 + exp(-y yhat)), y in {-1, +1}
  kHinge,        // max(0, 1 - y yhat)
  kRobustHinge,  // max(0, 1 - y yhat + eps ||B_k[attackable]||_1): ALGORITHMS.md 4.4
};
const char* ConvexLossName(ConvexLoss loss);
// True for the losses with a continuous gradient (squared, logistic).
bool IsSmooth(ConvexLoss loss);

struct ConvexReluProblem {
  MatrixD x;  // n x d.
  VectorD y;  // n targets: +-1 for the classification losses.
  MatrixD d;  // n x P, entries 0 or 1.
  ConvexLoss loss = ConvexLoss::kSquared;
  double beta = 1e-3;      // Group-lasso weight (the network's weight decay beta/2 (|u|^2 + a^2)).
  double epsilon = 0;      // The l_inf radius of kRobustHinge (ignored by the other losses).
  int64_t attackable = 0;  // Leading features an adversary may perturb (d, or d - 1 with bias).

  int64_t n() const { return x.rows(); }
  int64_t dim() const { return x.cols(); }
  int64_t patterns() const { return d.cols(); }
  // The radius the constraints and the loss use: epsilon for kRobustHinge, else 0.
  double robust_epsilon() const { return loss == ConvexLoss::kRobustHinge ? epsilon : 0.0; }
};

// ALGORITHMS.md 4.2: gates h_i ~ N(0, I_d) (i = 1..count, drawn from Rng(seed, kPatterns)),
// patterns d_i = 1[X h_i >= 0]; duplicates and the all-off pattern (it contributes nothing)
// removed, the first gate of each distinct pattern kept, in draw order. n x P', P' <= count.
MatrixD SamplePatterns(const MatrixD& x, int64_t count, uint64_t seed);

// The objective's parts at U (2P x d).
struct ConvexValue {
  double loss = 0;            // (1/n) sum_k l_k.
  double group = 0;           // beta sum_j ||u_j||_2.
  double violation = 0;       // sum_j ||(-C_j)_+||_2 over the 4P constraint columns (0 = feasible).
  int64_t active_groups = 0;  // Rows of U that are not zero.
  double objective() const { return loss + group; }
};
ConvexValue Evaluate(const ConvexReluProblem& problem, const MatrixD& u);
// yhat (n) at U.
VectorD Predict(const ConvexReluProblem& problem, const MatrixD& u);
// Per-example losses l_k (n) at U (unsmoothed), the vector whose mean is ConvexValue::loss.
VectorD ExampleLosses(const ConvexReluProblem& problem, const MatrixD& u);

// The smooth part of the penalized program, for the solvers and the service's optimizers:
//   G(U) = (1/n) sum_k l^mu(...) + (delta/2) sum ||(Gamma/delta - C^mu)_+||^2
// where l^mu is the loss with its kinks Huber-smoothed at width mu (mu = 0: the exact loss;
// the hinge's error is at most mu/2 per example) and C^mu uses the Huber-smoothed l1 norm.
// Gamma (n x 2P, >= 0) are the multipliers (empty = 0). Writes dG/dU to *grad unless null.
// Returns G(U).
struct PenaltyTerms {
  const MatrixD* multipliers = nullptr;  // Gamma; null = 0.
  double delta = 0;                      // Penalty weight; 0 = no constraint term.
  double mu = 0;                         // Smoothing width of the hinge and the l1 norm.
};
double SmoothValue(const ConvexReluProblem& problem, const PenaltyTerms& terms, const MatrixD& u,
                   MatrixD* grad);

// The penalty form a service optimizer minimizes (smooth losses; ALGORITHMS.md 4.5):
//   F_rho(U) = (1/n) sum_k l_k + beta sum_j ||u_j||_2 + (rho/2n) sum ||(-C)_+||^2
// (the violations averaged over the examples like the loss, so rho does not scale with n).
double PenalizedObjective(const ConvexReluProblem& problem, double rho, const MatrixD& u);
// A subgradient of F_rho (the group norm's is u/||u|| away from 0 and 0 at 0).
void PenalizedSubgradient(const ConvexReluProblem& problem, double rho, const MatrixD& u,
                          MatrixD* grad);

// prox of t * beta sum_j ||u_j||_2: each row scaled by max(0, 1 - t beta / ||u_j||).
void ProxGroupLasso(double threshold, MatrixD* u);

struct FistaOptions {
  int64_t max_iters = 10000;
  double tolerance = 1e-8;  // Stop when ||gradient mapping||_F <= tolerance.
};

// Restarted FISTA with backtracking (Beck & Teboulle 2009; gradient restart, O'Donoghue &
// Candes 2015) on G(U) + beta sum ||u_j||: `u` is the start and the answer. `on_iteration`
// (may be empty) is called after each iteration with its 1-based count and the iterate, and
// returns false to stop. Returns the iterations taken.
struct FistaState {
  double lipschitz = 1;  // The step's inverse, kept across calls (warm start).
  int64_t iterations = 0;
  bool converged = false;
};
FistaState MinimizeFista(const ConvexReluProblem& problem, const PenaltyTerms& terms,
                         const FistaOptions& options, double lipschitz, MatrixD* u,
                         const std::function<bool(int64_t, const MatrixD&)>& on_iteration);

struct AugmentedLagrangianOptions {
  int64_t max_iters = 10000;  // FISTA iterations over all outer rounds.
  int64_t max_outer = 60;
  int64_t max_inner = 1000;  // FISTA iterations per outer round.
  double tolerance = 1e-6;   // Inner: gradient mapping; outer: constraint violation.
  // 0 = min(1, 100/n). The loss is a mean over the n examples, the penalty a sum: a delta of 1
  // outweighs the loss about n-fold and makes FISTA's steps far too short for it (at n = 2,000,
  // P = 5, logistic: objective 0.566 after 2,500 iterations from 1, 0.377 from 0.05). Small
  // problems (n <= 100) keep 1.
  double initial_delta = 0;
  // Final smoothing width of the hinge and of the robust constraints' l1 norm (hinge losses
  // only; continued from 0.1, halved every round): the program solved is the smoothed one; its
  // objective is within mu/2 of the hinge's per example, and its constraints are looser by at
  // most eps mu / 2 per attackable feature.
  double mu = 1e-4;
};
struct SolveResult {
  MatrixD u;
  int64_t iterations = 0;
  int64_t outer = 0;
  bool converged = false;
  double delta = 0;
};
// Solves the constrained program (ALGORITHMS.md 4.5): inner FISTA on the augmented Lagrangian,
// multipliers Gamma <- (Gamma - delta C)_+ (violation measured on the smoothed constraints),
// delta x 2 when the violation fell by less than half, up to 1e3 x its start; converged when an
// inner solve at the final smoothing reached the tolerance with the violation within it.
// `on_iteration` as in MinimizeFista, with the count over all rounds.
SolveResult SolveConstrained(const ConvexReluProblem& problem,
                             const AugmentedLagrangianOptions& options,
                             const std::function<bool(int64_t, const MatrixD&)>& on_iteration);
// Minimizes F_rho exactly (FISTA to `tolerance` from U = 0): the optimum p*_rho that an
// optimizer job's suboptimality is measured against. Smooth losses only.
SolveResult SolvePenalized(const ConvexReluProblem& problem, double rho, int64_t max_iters,
                           double tolerance);

// ALGORITHMS.md 4.3: one neuron per nonzero row of U, u = row / sqrt(||row||), alpha =
// +-sqrt(||row||) (+ for v rows, - for w rows). f(x) = sum_j alpha_j (x . u_j)_+.
struct ReluNetwork {
  MatrixD weights;  // m x d, one neuron per row (x includes the bias column when it has one).
  VectorD alpha;    // m output weights.
  int64_t neurons() const { return weights.rows(); }
  VectorD Predict(const MatrixD& x) const;
  // The weight-decay cost (beta/2) sum_j (||u_j||^2 + alpha_j^2).
  double WeightDecay(double beta) const;
};
ReluNetwork RecoverNetwork(const MatrixD& u);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_CONVEX_CONVEX_RELU_H_
