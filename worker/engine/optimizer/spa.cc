#include "worker/engine/optimizer/spa.h"

#include <cmath>

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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
