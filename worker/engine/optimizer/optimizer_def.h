// OptimizerDef: a registered optimizer — its declaration (name, doc, hyperparameters with
// defaults and ranges, cross-field rules) and how it is built and sized — written once, in the
// optimizer's own .cc file with DefineOptimizer, and listed in the optimizer table
// (worker/engine/catalog.cc).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_OPTIMIZER_DEF_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_OPTIMIZER_DEF_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "spec/component.h"
#include "spec/options.h"
#include "worker/engine/optimizer/optimizer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The step size every optimizer declares first; it is not part of the optimizer (the trainer
// passes it, scheduled, to each Step).
spec::ParamSpec LearningRate(double default_value);

// Options of the rules whose only knob is paper 1's heavy-ball momentum (sign_descent,
// normalized_gd, scaled_sign).
struct MomentumOptions {
  double momentum = 0;  // mu in [0, 1): b = mu b + u (PyTorch style).
};
// Its declaration, shared by those rules.
spec::Field<MomentumOptions> MomentumField();

// Options of a rule without hyperparameters beyond the step size (paper2_adam).
struct NoOptions {};

// Parameters many rules share, declared once (name, range); `doc` says how the rule uses it.
inline constexpr char kCoupledDecayDoc[] = "coupled L2: g += weight_decay theta";
inline constexpr char kDecoupledDecayDoc[] = "decoupled: theta -= lr wd theta";
template <typename O>
spec::Field<O> WeightDecayField(double O::*member, const char* doc) {
  return spec::Bind(member, "weight_decay", spec::Closed(0, 1e6), doc);
}
// Matrix rules that refresh a preconditioner (shampoo, soap, splus, spa).
template <typename O>
spec::Field<O> PreconditionFrequencyField(int64_t O::*member, const char* doc) {
  return spec::Bind(member, "precondition_frequency", spec::Closed(1, 1e9), doc);
}
template <typename O>
spec::Field<O> MaxPrecondDimField(int64_t O::*member, const char* doc) {
  return spec::Bind(member, "max_precond_dim", spec::Closed(1, 1e9), doc);
}

struct OptimizerDef {
  spec::ComponentSpec spec;
  // Builds the optimizer from validated parameters (every default filled in).
  std::function<std::unique_ptr<Optimizer>(const spec::ParamMap&)> build;
  // State tensors the optimizer keeps per parameter tensor, counted in tensors of the slot's
  // size for a square slot (memory estimates): 0 for plain gd, 2 for Adam.
  std::function<int64_t(const spec::ParamMap&)> state_tensors;
};

// Defines optimizer `name`: "lr" (default `default_lr`) followed by the bound options of O;
// `build` and `state_tensors` get the options read from validated parameters; `check` (optional)
// enforces rules across them (InvalidArgument "optimizer.<param>: ...").
template <typename O>
OptimizerDef DefineOptimizer(std::string name, std::string doc, double default_lr,
                             spec::Binding<O> binding,
                             std::function<std::unique_ptr<Optimizer>(const O&)> build,
                             std::function<int64_t(const O&)> state_tensors,
                             std::function<absl::Status(const O&)> check = nullptr) {
  OptimizerDef def;
  def.spec.kind = spec::ComponentKind::kOptimizer;
  def.spec.name = std::move(name);
  def.spec.doc = std::move(doc);
  def.spec.params.push_back(LearningRate(default_lr));
  for (const spec::ParamSpec& p : binding.params()) def.spec.params.push_back(p);
  if (check) {
    def.spec.check = [binding, check](const spec::ParamMap& p) { return check(binding.Read(p)); };
  }
  def.build = [binding, build](const spec::ParamMap& p) { return build(binding.Read(p)); };
  def.state_tensors = [binding, state_tensors](const spec::ParamMap& p) {
    return state_tensors(binding.Read(p));
  };
  return def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_OPTIMIZER_DEF_H_
