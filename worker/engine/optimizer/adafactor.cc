#include "worker/engine/optimizer/adafactor.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

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
      // U = G / sqrt(r c^T / mean(r)), with the two factors' inverse roots taken apart (as
      // HF's Adafactor does): their product r_i c_j is ~eps1^2 = 1e-60 for a row and a column
      // without gradient, which underflows to 0 in float32 and makes 0/0 = NaN.
      const Real r_mean = r.mean();
      const auto row_scale = (r.array() / r_mean).rsqrt().replicate(1, cols);
      const auto col_scale = c.array().rsqrt().replicate(rows, 1);
      ApplyClipped(slot, g * row_scale * col_scale, alpha);
    } else {
      Matrix& v = StateTensor(slot, "exp_avg_sq");
      v.array() = beta2 * v.array() + one_minus_beta2 * sq;
      ApplyClipped(slot, g / v.array().sqrt(), alpha);
    }
  }
}

const OptimizerDef& AdafactorDefinition() {
  using O = AdafactorOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "adafactor",
      "Adafactor (Shazeer & Stern 2018, Alg. 4/5): factored second moment, relative step, "
      "update clipping",
      1e-2,
      spec::Binding<O>({spec::Bind(&O::eps1, "eps1", spec::LeftOpen(0, 1), "added to g^2"),
                        spec::Bind(&O::eps2, "eps2", spec::LeftOpen(0, 1),
                                   "floor of the parameter RMS in the step size"),
                        spec::Bind(&O::clip_threshold, "clip_threshold", spec::LeftOpen(0, 1e6),
                                   "d: update RMS clipped to d"),
                        spec::Bind(&O::decay_rate, "decay_rate", spec::HalfOpen(-10, 0),
                                   "c in beta2_t = 1 - t^c"),
                        spec::Bind(&O::beta1, "beta1", spec::HalfOpen(0, 1),
                                   "first moment of the update; 0 = none"),
                        spec::Bind(&O::relative_step, "relative_step",
                                   "step rho_t = min(lr, 1/sqrt(t)) instead of lr"),
                        spec::Bind(&O::scale_parameter, "scale_parameter",
                                   "multiply the step by max(eps2, RMS(theta))")}),
      [](const O& o) { return std::make_unique<Adafactor>(o); },
      // Factored slots keep only a row and a column vector; vectors keep one full tensor.
      [](const O& o) -> int64_t { return o.beta1 > 0 ? 2 : 1; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
