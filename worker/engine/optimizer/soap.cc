#include "worker/engine/optimizer/soap.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"
#include "worker/engine/optimizer/matrix_functions.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// factor <- beta factor + (1 - beta) outer, with outer = G G^T (left) or G^T G (right).
void Accumulate(double beta, const Matrix& outer, Matrix* factor) {
  *factor = static_cast<Real>(beta) * *factor + static_cast<Real>(1.0 - beta) * outer;
}

}  // namespace

Soap::Soap(const SoapOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.shampoo_beta < 1 && options.eps > 0 && options.weight_decay >= 0);
  OPTBENCH_CHECK(options.precondition_frequency >= 1 && options.max_precond_dim >= 1);
}

void Soap::Update(const std::vector<ParamSlot>& slots, double lr) {
  for (const ParamSlot& slot : slots) {
    if (options_.paper_variant) {
      UpdatePaper(slot, lr);
    } else {
      UpdateReference(slot, lr);
    }
  }
}

void Soap::UpdateReference(const ParamSlot& slot, double lr) {
  OptimizerState* state = mutable_state();
  const Matrix& g = *slot.grad;
  const Eigen::Index rows = g.rows(), cols = g.cols();
  const bool vector = slot.role == ParamRole::kVector;
  const bool left = !vector && rows <= options_.max_precond_dim;
  const bool right = !vector && cols <= options_.max_precond_dim;
  const double shampoo_beta = options_.shampoo_beta >= 0 ? options_.shampoo_beta : options_.beta2;
  Matrix& m = ShapedStateTensor(state, slot.id, "exp_avg", rows, cols);
  Matrix& v = ShapedStateTensor(state, slot.id, "exp_avg_sq", rows, cols);
  Matrix* factor_l = left ? &ShapedStateTensor(state, slot.id, "factor_left", rows, rows) : nullptr;
  Matrix* factor_r =
      right ? &ShapedStateTensor(state, slot.id, "factor_right", cols, cols) : nullptr;
  Matrix* ql = left ? &ShapedStateTensor(state, slot.id, "basis_left", rows, rows) : nullptr;
  Matrix* qr = right ? &ShapedStateTensor(state, slot.id, "basis_right", cols, cols) : nullptr;
  const auto accumulate_factors = [&] {
    if (left) Accumulate(shampoo_beta, g * g.transpose(), factor_l);
    if (right) Accumulate(shampoo_beta, g.transpose() * g, factor_r);
  };
  const int64_t t = state->step;
  if (t == 1) {
    // The first step only builds the preconditioner, so that the projection never uses the
    // gradient it projects (soap.py: "first step is skipped").
    accumulate_factors();
    if (left) EigenBasis(*factor_l, /*descending=*/true, ql);
    if (right) EigenBasis(*factor_r, /*descending=*/true, qr);
    return;
  }
  const int64_t k = t - 1;
  Rotate(ql, g, qr, &scratch_, &rotated_);
  m = static_cast<Real>(options_.beta1) * m + static_cast<Real>(1.0 - options_.beta1) * rotated_;
  v.array() = static_cast<Real>(options_.beta2) * v.array() +
              static_cast<Real>(1.0 - options_.beta2) * rotated_.array().square();
  rotated_.array() = m.array() / (v.array().sqrt() + static_cast<Real>(options_.eps));
  Unrotate(ql, rotated_, qr, &scratch_, &direction_);
  double step_size = lr;
  if (options_.correct_bias) {
    const double kd = static_cast<double>(k);
    step_size *=
        std::sqrt(1.0 - std::pow(options_.beta2, kd)) / (1.0 - std::pow(options_.beta1, kd));
  }
  if (options_.normalize_grads) {
    const double rms = std::sqrt(direction_.template cast<double>().squaredNorm() /
                                 static_cast<double>(direction_.size()));
    direction_ *= static_cast<Real>(1.0 / (1e-30 + rms));
  }
  *slot.value -= static_cast<Real>(step_size) * direction_;
  if (options_.weight_decay > 0) *slot.value *= static_cast<Real>(1.0 - lr * options_.weight_decay);
  accumulate_factors();
  if (k % options_.precondition_frequency != 0 || (!left && !right)) return;
  // Refresh: carry m through the original basis; v is only permuted (soap.py).
  Unrotate(ql, m, qr, &scratch_, &direction_);
  std::vector<Eigen::Index> order;
  if (left) {
    RefreshBasisByQr(*factor_l, ql, &order);
    scratch_ = v;
    for (Eigen::Index i = 0; i < rows; ++i) v.row(i) = scratch_.row(order[i]);
  }
  if (right) {
    RefreshBasisByQr(*factor_r, qr, &order);
    scratch_ = v;
    for (Eigen::Index j = 0; j < cols; ++j) v.col(j) = scratch_.col(order[j]);
  }
  Rotate(ql, direction_, qr, &scratch_, &m);
}

void Soap::UpdatePaper(const ParamSlot& slot, double lr) {
  OptimizerState* state = mutable_state();
  const Matrix& g = *slot.grad;
  const Eigen::Index rows = g.rows(), cols = g.cols();
  const bool vector = slot.role == ParamRole::kVector;
  const bool left = !vector && rows < options_.max_precond_dim;
  const bool right = !vector && cols < options_.max_precond_dim;
  const double shampoo_beta = options_.shampoo_beta >= 0 ? options_.shampoo_beta : options_.beta2;
  Matrix& m = ShapedStateTensor(state, slot.id, "exp_avg", rows, cols);
  Matrix& v = ShapedStateTensor(state, slot.id, "exp_avg_sq", rows, cols);
  Matrix* factor_l = left ? &ShapedStateTensor(state, slot.id, "factor_left", rows, rows) : nullptr;
  Matrix* factor_r =
      right ? &ShapedStateTensor(state, slot.id, "factor_right", cols, cols) : nullptr;
  bool created = false;
  Matrix* ql =
      left ? &ShapedStateTensor(state, slot.id, "basis_left", rows, rows, &created) : nullptr;
  if (created) ql->setIdentity();
  created = false;
  Matrix* qr =
      right ? &ShapedStateTensor(state, slot.id, "basis_right", cols, cols, &created) : nullptr;
  if (created) qr->setIdentity();
  const int64_t t = state->step;
  const double td = static_cast<double>(t);
  m = static_cast<Real>(options_.beta1) * m + static_cast<Real>(1.0 - options_.beta1) * g;
  Rotate(ql, g, qr, &scratch_, &rotated_);
  v.array() = static_cast<Real>(options_.beta2) * v.array() +
              static_cast<Real>(1.0 - options_.beta2) * rotated_.array().square();
  Rotate(ql, m, qr, &scratch_, &rotated_);
  const Real bc1 = static_cast<Real>(1.0 - std::pow(options_.beta1, td));
  const Real bc2 = static_cast<Real>(1.0 - std::pow(options_.beta2, td));
  rotated_.array() =
      (rotated_.array() / bc1) / ((v.array() / bc2).sqrt() + static_cast<Real>(options_.eps));
  Unrotate(ql, rotated_, qr, &scratch_, &direction_);
  if (left) Accumulate(shampoo_beta, g * g.transpose(), factor_l);
  if (right) Accumulate(shampoo_beta, g.transpose() * g, factor_r);
  if (t == 1) {
    direction_.setZero();
    m.setZero();
    v.setZero();
  }
  *slot.value -=
      static_cast<Real>(lr) * (direction_ + static_cast<Real>(options_.weight_decay) * *slot.value);
  if (t == 1 || t % options_.precondition_frequency == 0) {
    if (left) EigenBasis(*factor_l, /*descending=*/false, ql);
    if (right) EigenBasis(*factor_r, /*descending=*/false, qr);
  }
}

const OptimizerDef& SoapDefinition() {
  using O = SoapOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "soap",
      "SOAP (nikhilvyas/SOAP soap.py; ALGORITHMS 0.9, paper 2 eq. 2.4.5): Adam in the "
      "eigenbasis of Shampoo's factors; step 1 only builds the basis; vector slots get "
      "Adam without rotation, as the reference (precondition_1d off)",
      3e-3,
      spec::Binding<O>(
          {spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1), "first-moment decay"),
           spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1), "second-moment decay"),
           spec::Bind(&O::shampoo_beta, "shampoo_beta", spec::HalfOpen(-1, 1),
                      "factor decay; < 0 = beta2"),
           spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1), "added to sqrt(v)"),
           WeightDecayField(&O::weight_decay,
                            "decoupled: theta -= lr wd theta (reference: after the step)"),
           PreconditionFrequencyField(
               &O::precondition_frequency,
               "basis refresh every N steps (reference: QR power step; paper: eigh)"),
           MaxPrecondDimField(&O::max_precond_dim,
                              "a longer side is not rotated (paper: sides >= this)"),
           spec::UsedWhen(spec::Bind(&O::normalize_grads, "normalize_grads",
                                     "reference only: divide the update by its RMS"),
                          "variant", "reference"),
           spec::UsedWhen(spec::Bind(&O::correct_bias, "correct_bias",
                                     "reference only: step lr sqrt(1-beta2^k)/(1-beta1^k); paper "
                                     "always corrects"),
                          "variant", "reference"),
           spec::BindChoice(&O::paper_variant, "variant", {{"reference", false}, {"paper", true}},
                            "reference: nikhilvyas/SOAP; paper: momentum in the original basis, "
                            "eigh refresh, first update zeroed")}),
      [](const O& o) { return std::make_unique<Soap>(o); }, [](const O&) -> int64_t { return 6; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
