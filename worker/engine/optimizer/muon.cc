#include "worker/engine/optimizer/muon.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// KellerJordan/Muon MuonWithAuxAdam's defaults for parameters that are not matrices.
constexpr double kAuxBeta1 = 0.9, kAuxBeta2 = 0.95, kAuxEps = 1e-10;

void MuonDirection(const MuonOptions& options, OptimizerState* state, const ParamSlot& slot,
                   Matrix* lookahead, NewtonSchulzWorkspace* work, Matrix* u) {
  const Eigen::Index rows = slot.value->rows(), cols = slot.value->cols();
  Matrix& buf = ShapedStateTensor(state, slot.id, "momentum_buffer", rows, cols);
  const Real beta = static_cast<Real>(options.momentum);
  const Real one_minus_beta = static_cast<Real>(1.0 - options.momentum);
  buf = beta * buf + one_minus_beta * *slot.grad;
  if (options.nesterov) {
    *lookahead = one_minus_beta * *slot.grad + beta * buf;
  } else {
    *lookahead = buf;
  }
  double eps = 1e-7;
  if (options.paper_variant) {
    *lookahead *= static_cast<Real>(
        1.0 / (1.0 - std::pow(options.momentum, static_cast<double>(state->step))));
    eps = 1e-8;
  }
  NewtonSchulz(*lookahead, options.ns_steps, options.schedule_coefficients, eps, u, work);
  *u *= static_cast<Real>(std::sqrt(std::max(1.0, static_cast<double>(rows) / cols)));
}

Muon::Muon(const MuonOptions& options) : options_(options) {
  OPTBENCH_CHECK(options.momentum >= 0 && options.momentum < 1);
  OPTBENCH_CHECK(options.ns_steps >= 0 && options.weight_decay >= 0);
}

void Muon::Update(const std::vector<ParamSlot>& slots, double lr) {
  OptimizerState* state = mutable_state();
  for (const ParamSlot& slot : slots) {
    if (slot.role == ParamRole::kVector) {
      AdamFallbackStep(state, slot, state->step, lr, kAuxBeta1, kAuxBeta2, kAuxEps, 0.0);
      continue;
    }
    auto it = work_.find(slot.id);
    if (it == work_.end()) it = work_.try_emplace(slot.id).first;
    MuonDirection(options_, state, slot, &lookahead_, &it->second, &orthogonal_);
    if (options_.weight_decay != 0) {
      *slot.value *= static_cast<Real>(1.0 - lr * options_.weight_decay);
    }
    *slot.value -= static_cast<Real>(lr) * orthogonal_;
  }
}

const OptimizerDef& MuonDefinition() {
  using O = MuonOptions;
  static const OptimizerDef* def = new OptimizerDef(DefineOptimizer<O>(
      "muon",
      "Muon (KellerJordan/Muon muon.py; ALGORITHMS 0.7, paper 2 eq. 2.4.3): momentum "
      "orthogonalized by quintic Newton-Schulz in float32 (reference: bfloat16), scaled "
      "by sqrt(max(1, rows/cols)); vector slots get the reference's aux Adam "
      "(0.9, 0.95, eps 1e-10, no decay)",
      0.02,
      spec::Binding<O>(
          {spec::Bind(&O::momentum, "momentum", spec::HalfOpen(0, 1),
                      "beta: buf = beta buf + (1-beta) g"),
           spec::Bind(&O::nesterov, "nesterov",
                      "orthogonalize (1-beta) g + beta buf instead of buf (paper 2: lookahead "
                      "1-beta; its runs use false)"),
           spec::BindChoice(&O::schedule_coefficients, "ns_coefficients",
                            {{"fixed", false}, {"schedule", true}},
                            "Newton-Schulz (a,b,c): fixed (3.4445,-4.7750,2.0315) or paper 2's "
                            "5-step schedule"),
           spec::Bind(&O::ns_steps, "ns_steps", spec::Closed(1, 50), "Newton-Schulz iterations"),
           WeightDecayField(&O::weight_decay, "decoupled: theta *= 1 - lr wd"),
           spec::BindChoice(
               &O::paper_variant, "variant", {{"reference", false}, {"paper", true}},
               "reference: X = M/(||M||+1e-7); paper: X = (M/(1-beta^t))/(||.||+1e-8)")}),
      [](const O& o) { return std::make_unique<Muon>(o); }, [](const O&) -> int64_t { return 1; }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
