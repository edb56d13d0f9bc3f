#include "worker/engine/optimizer/spa.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common/check.h"
#include "worker/engine/optimizer/matrix_functions.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Spa::Spa(const SpaOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.eps > 0 && options.weight_decay >= 0);
  OPTBENCH_CHECK(options.precondition_frequency >= 1 && options.max_precond_dim >= 1);
}

void Spa::Update(const std::vector<ParamSlot>& slots, double lr) {
  OptimizerState* state = mutable_state();
  const int64_t t = state->step;
  const Real bc2 = static_cast<Real>(1.0 - std::pow(options_.beta2, static_cast<double>(t)));
  const Real eps = static_cast<Real>(options_.eps);
  for (const ParamSlot& slot : slots) {
    const Matrix& g = *slot.grad;
    Matrix& m = ShapedStateTensor(state, slot.id, "exp_avg", g.rows(), g.cols());
    Matrix& v = ShapedStateTensor(state, slot.id, "exp_avg_sq", g.rows(), g.cols());
    m = static_cast<Real>(options_.beta1) * m + static_cast<Real>(1.0 - options_.beta1) * g;
    const EigenbasisSides sides = PaperEigenbasisSides(state, slot, options_.max_precond_dim);
    Rotate(sides.basis_left, m, sides.basis_right, &scratch_, &rotated_);
    rotated_ = rotated_.array().sign().matrix();
    Unrotate(sides.basis_left, rotated_, sides.basis_right, &scratch_, &signs_);
    v.array() = static_cast<Real>(options_.beta2) * v.array() +
                static_cast<Real>(1.0 - options_.beta2) * signs_.array().square();
    signs_.array() /= (v.array() / bc2).sqrt() + eps;
    AccumulateFactors(options_.beta2, g, sides);
    if (t == 1) {
      signs_.setZero();
      m.setZero();
      v.setZero();
    }
    *slot.value -=
        static_cast<Real>(lr) * (signs_ + static_cast<Real>(options_.weight_decay) * *slot.value);
    if (t == 1 || t % options_.precondition_frequency == 0) RefreshPaperBases(sides, 1e-30);
  }
}

const OptimizerDef& SpaDefinition() {
  using O = SpaOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "spa",
      "SPA, paper 2's didactic method (kvfrans/matrix-whitening spa.py; ALGORITHMS "
      "2.4.8): S = Q_L sign(Q_L^T m Q_R) Q_R^T, then S / (sqrt(v_hat) + eps); first "
      "update zeroed; vector slots unrotated, as the code",
      1e-3,
      spec::Binding<O>(
          {spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1), "momentum EMA"),
           spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1), "variance and factor EMA"),
           spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1), "added to sqrt(v_hat)"),
           WeightDecayField(&O::weight_decay, kDecoupledDecayDoc),
           PreconditionFrequencyField(&O::precondition_frequency,
                                      "eigenbasis recomputed after step 1 and every N steps"),
           MaxPrecondDimField(&O::max_precond_dim, "sides >= this are not rotated")}),
      [](const O& o) { return std::make_unique<Spa>(o); }, [](const O&) -> int64_t { return 6; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
