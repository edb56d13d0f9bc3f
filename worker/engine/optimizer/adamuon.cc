#include "worker/engine/optimizer/adamuon.h"

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common/check.h"
#include "worker/engine/optimizer/muon.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

AdaMuon::AdaMuon(const AdaMuonOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.beta >= 0 && options.beta < 1);
  OPTBENCH_CHECK(options.beta2 >= 0 && options.beta2 < 1);
  OPTBENCH_CHECK(options.eps > 0 && options.ns_steps >= 0 && options.weight_decay >= 0);
}

void AdaMuon::Update(const std::vector<ParamSlot>& slots, double lr) {
  OptimizerState* state = mutable_state();
  MuonOptions muon;
  muon.momentum = options_.beta;
  muon.nesterov = false;
  muon.schedule_coefficients = options_.schedule_coefficients;
  muon.ns_steps = options_.ns_steps;
  muon.paper_variant = true;
  const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(state->step));
  const Real b2 = static_cast<Real>(options_.beta2);
  const Real one_minus_b2 = static_cast<Real>(1.0 - options_.beta2);
  for (const ParamSlot& slot : slots) {
    if (slot.role == ParamRole::kVector) {
      AdamFallbackStep(state, slot, state->step, lr, options_.beta, options_.beta2, options_.eps,
                       options_.weight_decay);
      continue;
    }
    auto it = work_.find(slot.id);
    if (it == work_.end()) it = work_.try_emplace(slot.id).first;
    MuonDirection(muon, state, slot, &lookahead_, &it->second, &orthogonal_);
    const Eigen::Index rows = orthogonal_.rows(), cols = orthogonal_.cols();
    if (options_.variance == AdaMuonVariance::kFull) {
      Matrix& v = ShapedStateTensor(state, slot.id, "exp_avg_sq", rows, cols);
      v.array() = b2 * v.array() + one_minus_b2 * orthogonal_.array().square();
      variance_ = v;
    } else {
      Matrix& r = ShapedStateTensor(state, slot.id, "exp_avg_sq_row", rows, 1);
      Matrix& c = ShapedStateTensor(state, slot.id, "exp_avg_sq_col", 1, cols);
      r = b2 * r + one_minus_b2 * orthogonal_.array().square().rowwise().mean().matrix();
      c = b2 * c + one_minus_b2 * orthogonal_.array().square().colwise().mean().matrix();
      // mean(r) = 0 only while every O so far was zero; the code's 0/0 would be NaN, here the
      // variance is then 0 and so is the update (O = 0).
      const double mean_r = r.template cast<double>().mean();
      double scale = mean_r > 0 ? 1.0 / mean_r : 0.0;
      if (options_.variance == AdaMuonVariance::kRank1Code) {
        scale *= static_cast<double>(rows) / static_cast<double>(cols);
      }
      variance_.noalias() = r * c;
      variance_ *= static_cast<Real>(scale);
    }
    if (options_.weight_decay != 0) {
      *slot.value *= static_cast<Real>(1.0 - lr * options_.weight_decay);
    }
    slot.value->array() -=
        static_cast<Real>(lr) *
        (orthogonal_.array() /
         ((variance_.array() / static_cast<Real>(bc2)).sqrt() + static_cast<Real>(options_.eps)));
  }
}

const OptimizerDef& AdaMuonDefinition() {
  using O = AdaMuonOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "adamuon",
      "AdaMuon as paper 2 (kvfrans/matrix-whitening adamuon.py; ALGORITHMS 2.4.7): "
      "bias-corrected Muon O, then O / (sqrt(v_hat) + eps) with v an EMA of O^2 (full or "
      "rank-1); vector slots get Adam (beta1, beta2, eps) [service default]",
      3.12e-4,
      spec::Binding<O>(
          {spec::Bind(&O::beta, "beta1", spec::HalfOpen(0, 1), "momentum EMA"),
           spec::Bind(&O::beta2, "beta2", spec::HalfOpen(0, 1),
                      "variance EMA of the orthogonalized update"),
           spec::Bind(&O::eps, "eps", spec::LeftOpen(0, 1), "added to sqrt(v_hat)"),
           spec::BindChoice(&O::schedule_coefficients, "ns_coefficients",
                            {{"fixed", false}, {"schedule", true}},
                            "Newton-Schulz (a,b,c): paper 2's 5-step schedule (code default) or "
                            "the fixed triple; float32 in the product"),
           spec::Bind(&O::ns_steps, "ns_steps", spec::Closed(1, 50), "Newton-Schulz iterations"),
           WeightDecayField(&O::weight_decay, "decoupled: theta *= 1 - lr wd"),
           spec::BindChoice(&O::variance, "variance",
                            {{"full", AdaMuonVariance::kFull},
                             {"rank1", AdaMuonVariance::kRank1},
                             {"rank1_code", AdaMuonVariance::kRank1Code}},
                            "full v; rank-1 r c^T/mean(r); rank1_code = the code's rank-1 times "
                            "rows/cols")}),
      [](const O& o) { return std::make_unique<AdaMuon>(o); },
      [](const O& o) -> int64_t { return o.variance == AdaMuonVariance::kFull ? 2 : 1; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
