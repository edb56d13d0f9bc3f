#include "worker/engine/optimizer/shampoo.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common/check.h"
#include "worker/engine/optimizer/matrix_functions.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Shampoo::Shampoo(const ShampooOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.eps > 0 && options.root_eps >= 0 && options.weight_decay >= 0);
  OPTBENCH_CHECK(options.precondition_frequency >= 1 && options.max_precond_dim >= 1);
}

void Shampoo::Update(const std::vector<ParamSlot>& slots, double lr) {
  for (const ParamSlot& slot : slots) UpdateSlot(slot, lr);
}

void Shampoo::InverseFourthRoot(const Matrix& factor, double bc2, Matrix* root) const {
  Matrix vectors;
  Vector values;
  // Bias-corrected before the decomposition, as the reference (its 1e-30 I jitter is added to
  // L / bc2).
  SymmetricEigen(factor / static_cast<Real>(bc2), &vectors, &values);
  // Eigenvalues are transformed in float64: the fourth root of a tiny float32 value is not.
  Eigen::VectorXd lambda = values.template cast<double>();
  if (options_.paper_variant) {
    lambda = (lambda.array().abs().pow(0.25) + 1e-8).inverse();
  } else {
    const double floor = options_.root_eps * std::max(lambda.maxCoeff(), 0.0) + 1e-30;
    lambda = (lambda.array().max(0.0) + floor).pow(-0.25);
  }
  *root = vectors * lambda.cast<Real>().asDiagonal() * vectors.transpose();
}

void Shampoo::UpdateSlot(const ParamSlot& slot, double lr) {
  OptimizerState* state = mutable_state();
  const Matrix& g = *slot.grad;
  const Eigen::Index rows = g.rows(), cols = g.cols();
  const bool matrix = slot.role != ParamRole::kVector && rows <= options_.max_precond_dim &&
                      cols <= options_.max_precond_dim;
  const double td = static_cast<double>(state->step);
  const double bc1 = 1.0 - std::pow(options_.beta1, td);
  const double bc2 = 1.0 - std::pow(options_.beta2, td);
  const Real eps = static_cast<Real>(options_.eps);
  Matrix& m = ShapedStateTensor(state, slot.id, "exp_avg", rows, cols);
  Matrix& v = ShapedStateTensor(state, slot.id, "exp_avg_sq", rows, cols);
  m = static_cast<Real>(options_.beta1) * m + static_cast<Real>(1.0 - options_.beta1) * g;
  v.array() = static_cast<Real>(options_.beta2) * v.array() +
              static_cast<Real>(1.0 - options_.beta2) * g.array().square();
  const auto v_hat_sqrt = v.array().sqrt() / static_cast<Real>(std::sqrt(bc2));
  if (options_.paper_variant) {
    adam_.array() = (m.array() / static_cast<Real>(bc1)) / (v.array().sqrt() + eps);
  } else {
    adam_.array() = (m.array() / static_cast<Real>(bc1)) / (v_hat_sqrt + eps);
  }
  if (!matrix) {
    if (options_.paper_variant) adam_.array() /= v_hat_sqrt + eps;
    direction_ = adam_;
  } else {
    bool created = false;
    Matrix& factor_l = ShapedStateTensor(state, slot.id, "factor_left", rows, rows);
    Matrix& factor_r = ShapedStateTensor(state, slot.id, "factor_right", cols, cols);
    Matrix& root_l = ShapedStateTensor(state, slot.id, "root_left", rows, rows, &created);
    if (created) root_l.setIdentity();
    created = false;
    Matrix& root_r = ShapedStateTensor(state, slot.id, "root_right", cols, cols, &created);
    if (created) root_r.setIdentity();
    const Real b2 = static_cast<Real>(options_.beta2);
    const Real one_minus_b2 = static_cast<Real>(1.0 - options_.beta2);
    if (options_.paper_variant) {
      const double scale = factor_r.diagonal().template cast<double>().cwiseSqrt().mean();
      scratch_.noalias() = root_l * adam_;
      direction_.noalias() = scratch_ * root_r;
      direction_ *= static_cast<Real>(scale);
      normalized_.array() = g.array() / (v.array().sqrt() + eps);
      factor_l = b2 * factor_l +
                 (one_minus_b2 / static_cast<Real>(cols)) * (normalized_ * normalized_.transpose());
      factor_r = b2 * factor_r +
                 (one_minus_b2 / static_cast<Real>(rows)) * (normalized_.transpose() * normalized_);
    } else {
      factor_l = b2 * factor_l + one_minus_b2 * (g * g.transpose());
      factor_r = b2 * factor_r + one_minus_b2 * (g.transpose() * g);
    }
    const bool refresh = state->step == 1 || state->step % options_.precondition_frequency == 0;
    if (refresh) {
      InverseFourthRoot(factor_l, bc2, &root_l);
      InverseFourthRoot(factor_r, bc2, &root_r);
    }
    if (!options_.paper_variant) {
      // Basic Shampoo preconditions with the roots of the factors that include G_t.
      scratch_.noalias() = root_l * (m / static_cast<Real>(bc1));
      direction_.noalias() = scratch_ * root_r;
      if (options_.graft_adam) {
        const double norm = direction_.template cast<double>().norm();
        if (norm > 0) direction_ *= static_cast<Real>(adam_.template cast<double>().norm() / norm);
      }
    }
  }
  if (options_.paper_variant) {
    *slot.value -= static_cast<Real>(lr) *
                   (direction_ + static_cast<Real>(options_.weight_decay) * *slot.value);
  } else {
    if (options_.weight_decay != 0) {
      *slot.value *= static_cast<Real>(1.0 - lr * options_.weight_decay);
    }
    *slot.value -= static_cast<Real>(lr) * direction_;
  }
}

const OptimizerDef& ShampooDefinition() {
  using O = ShampooOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "shampoo",
      "Shampoo (Gupta et al. 2018 Alg. 1; ALGORITHMS 0.8, paper 2 eq. 2.4.4): "
      "L^-1/4 M R^-1/4 by eigendecomposition (in float64); vector slots: basic = "
      "Adam, paper = the code's m_hat/((sqrt(v)+eps)(sqrt(v_hat)+eps))",
      1e-3,
      spec::Binding<O>(
          {spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1), "momentum EMA on g"),
           spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1),
                      "factor EMA and Adam second moment"),
           spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1),
                      "Adam eps (grafting, vectors, paper normalization)"),
           spec::UsedWhen(spec::Bind(&O::root_eps, "root_eps", spec::Closed(0, 1),
                                     "basic only: eigenvalue floor relative to the largest "
                                     "(paper: fixed 1/(|l|^1/4 + 1e-8))"),
                          "variant", "basic"),
           WeightDecayField(&O::weight_decay, kDecoupledDecayDoc),
           PreconditionFrequencyField(&O::precondition_frequency,
                                      "inverse roots recomputed at step 1 and every N steps"),
           MaxPrecondDimField(&O::max_precond_dim,
                              "matrices with a longer side get the vector rule"),
           spec::UsedWhen(spec::Bind(&O::graft_adam, "graft_adam",
                                     "basic only: rescale the update to the Frobenius norm of "
                                     "Adam's"),
                          "variant", "basic"),
           spec::BindChoice(&O::paper_variant, "variant", {{"basic", false}, {"paper", true}},
                            "basic: EMA factors of g; paper: factors of Adam-normalized g, scale "
                            "mean(sqrt(diag R))")}),
      [](const O& o) { return std::make_unique<Shampoo>(o); },
      [](const O&) -> int64_t { return 6; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
