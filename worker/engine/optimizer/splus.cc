#include "worker/engine/optimizer/splus.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common/check.h"
#include "worker/engine/optimizer/matrix_functions.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Splus::Splus(const SplusOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.lookahead >= 0 && options.lookahead <= 1);
  OPTBENCH_CHECK(options.eps >= 0 && options.weight_decay >= 0);
  OPTBENCH_CHECK(options.precondition_frequency >= 1 && options.max_precond_dim >= 1);
}

void Splus::Update(const std::vector<ParamSlot>& slots, double lr) {
  OptimizerState* state = mutable_state();
  const int64_t t = state->step;
  const Real bc1 = static_cast<Real>(1.0 - std::pow(options_.beta1, static_cast<double>(t)));
  const Real lambda = static_cast<Real>(options_.lookahead);
  for (const ParamSlot& slot : slots) {
    const Matrix& g = *slot.grad;
    Matrix& m = ShapedStateTensor(state, slot.id, "exp_avg", g.rows(), g.cols());
    m = static_cast<Real>(options_.beta1) * m + static_cast<Real>(1.0 - options_.beta1) * g;
    lookahead_ = (Real{1} - lambda) * m + lambda * g;
    Real scale = 1;
    if (slot.role == ParamRole::kVector) {
      direction_ = (lookahead_ / bc1).array().sign().matrix();
    } else {
      const EigenbasisSides sides = PaperEigenbasisSides(state, slot, options_.max_precond_dim);
      Rotate(sides.basis_left, lookahead_, sides.basis_right, &scratch_, &rotated_);
      rotated_ = (rotated_ / bc1).array().sign().matrix();
      Unrotate(sides.basis_left, rotated_, sides.basis_right, &scratch_, &direction_);
      scale = static_cast<Real>(2.0 / static_cast<double>(g.rows() + g.cols()));
      AccumulateFactors(options_.beta2, g, sides);
      if (t == 1 || t % options_.precondition_frequency == 0) {
        RefreshPaperBases(sides, options_.eps);
      }
    }
    *slot.value -= static_cast<Real>(lr) *
                   (scale * direction_ + static_cast<Real>(options_.weight_decay) * *slot.value);
  }
}

const OptimizerDef& SplusDefinition() {
  using O = SplusOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "splus",
      "SPlus as paper 2 (kvfrans/matrix-whitening splus.py; ALGORITHMS 2.4.6): sign of "
      "the momentum in the eigenbasis of Shampoo's factors, times 2/(rows+cols); vector "
      "slots: sign(m_hat) unrotated, unscaled [service default; the code refuses them]",
      0.1,
      spec::Binding<O>(
          {spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1), "momentum EMA"),
           spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1), "factor EMA"),
           spec::Bind(&O::lookahead, "lookahead", spec::Closed(0, 1),
                      "lambda: sign of (1-lambda) m + lambda g"),
           spec::Bind(&O::eps, "eps", spec::Closed(0, 1),
                      "added to the factors' diagonal before eigh"),
           WeightDecayField(&O::weight_decay, kDecoupledDecayDoc),
           PreconditionFrequencyField(&O::precondition_frequency,
                                      "eigenbasis recomputed after step 1 and every N steps"),
           MaxPrecondDimField(&O::max_precond_dim, "sides >= this are not rotated")}),
      [](const O& o) { return std::make_unique<Splus>(o); },
      [](const O&) -> int64_t { return 5; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
