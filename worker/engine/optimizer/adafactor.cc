#include "worker/engine/optimizer/adafactor.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

Adafactor::Adafactor(const AdafactorOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.eps1 > 0 && options.eps2 > 0 && options.clip_threshold > 0);
  OPTBENCH_CHECK(options.decay_rate < 0);
  OPTBENCH_CHECK(options.beta1 >= 0 && options.beta1 < 1);
}

Matrix& Adafactor::FactorState(const ParamSlot& slot, const char* name, Eigen::Index rows,
                               Eigen::Index cols) {
  auto& per_slot = mutable_state()->tensors[slot.id];
  auto it = per_slot.find(name);
  if (it == per_slot.end()) it = per_slot.try_emplace(name, Matrix::Zero(rows, cols)).first;
  OPTBENCH_CHECK(it->second.rows() == rows && it->second.cols() == cols);
  return it->second;
}

template <typename Direction>
void Adafactor::ApplyClipped(const ParamSlot& slot, const Direction& u, double alpha) {
  // U is evaluated twice (for its RMS, then for the update) rather than stored: no allocation.
  const double rms = std::sqrt(u.template cast<double>().square().mean());
  const Real scale = static_cast<Real>(alpha / std::max(1.0, rms / options_.clip_threshold));
  if (options_.beta1 == 0) {
    slot.value->array() -= scale * u;
    return;
  }
  Matrix& m = StateTensor(slot, "exp_avg");
  m.array() = static_cast<Real>(options_.beta1) * m.array() +
              static_cast<Real>(1.0 - options_.beta1) * (scale * u);
  *slot.value -= m;
}

void Adafactor::Update(const std::vector<ParamSlot>& slots, double lr) {
  const double t = static_cast<double>(state().step);
  const double beta2t = 1.0 - std::pow(t, options_.decay_rate);
  const Real beta2 = static_cast<Real>(beta2t);
  const Real one_minus_beta2 = static_cast<Real>(1.0 - beta2t);
  const Real eps1 = static_cast<Real>(options_.eps1);
  const double rho = options_.relative_step ? std::min(lr, 1.0 / std::sqrt(t)) : lr;
  for (const ParamSlot& slot : slots) {
    double alpha = rho;
    if (options_.scale_parameter) {
      const double rms = std::sqrt(slot.value->template cast<double>().array().square().mean());
      alpha = std::max(options_.eps2, rms) * rho;
    }
    const auto g = slot.grad->array();
    const auto sq = g.square() + eps1;
    const Eigen::Index rows = slot.value->rows(), cols = slot.value->cols();
    if (rows >= 2 && cols >= 2) {
      Matrix& r = FactorState(slot, "exp_avg_sq_row", rows, 1);
      Matrix& c = FactorState(slot, "exp_avg_sq_col", 1, cols);
      r.array() = beta2 * r.array() + one_minus_beta2 * sq.rowwise().mean();
      c.array() = beta2 * c.array() + one_minus_beta2 * sq.colwise().mean();
      const Real r_mean = r.mean();
      const auto v = (r.array().replicate(1, cols) * c.array().replicate(rows, 1)) / r_mean;
      ApplyClipped(slot, g / v.sqrt(), alpha);
    } else {
      Matrix& v = StateTensor(slot, "exp_avg_sq");
      v.array() = beta2 * v.array() + one_minus_beta2 * sq;
      ApplyClipped(slot, g / v.array().sqrt(), alpha);
    }
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
