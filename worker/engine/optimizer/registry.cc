#include "worker/engine/optimizer/registry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/catalog.h"
#include "worker/engine/optimizer/adafactor.h"
#include "worker/engine/optimizer/adagrad.h"
#include "worker/engine/optimizer/adam.h"
#include "worker/engine/optimizer/adamw.h"
#include "worker/engine/optimizer/gd.h"
#include "worker/engine/optimizer/lion.h"
#include "worker/engine/optimizer/matrix_registry.h"
#include "worker/engine/optimizer/normalized_gd.h"
#include "worker/engine/optimizer/rmsprop.h"
#include "worker/engine/optimizer/scaled_sign.h"
#include "worker/engine/optimizer/sign_descent.h"
#include "worker/engine/optimizer/signum.h"

namespace optbench::engine {
namespace {

absl::Status NoBuilder(const std::string& name) {
  return absl::InternalError(absl::StrCat("optimizer '", name, "' is declared but has no builder"));
}

}  // namespace

absl::StatusOr<int64_t> OptimizerStateTensorsPerSlot(const std::string& name,
                                                     const ParamMap& params) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec,
                            FindComponent(ComponentKind::kOptimizer, name));
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, ValidateParams(*spec, params));
  if (name == "gd" || name == "sign_descent" || name == "normalized_gd") {
    return GetDouble(p, "momentum") > 0 ? 1 : 0;
  }
  // ---- elementwise optimizers ----
  if (name == "sgd" || name == "scaled_sign") return GetDouble(p, "momentum") > 0 ? 1 : 0;
  if (name == "adam" || name == "adamw") {
    return (GetDouble(p, "beta1") > 0 ? 2 : 1) + (GetBool(p, "amsgrad") ? 1 : 0);
  }
  if (name == "adagrad" || name == "signum" || name == "lion") return 1;
  if (name == "rmsprop") {
    return 1 + (GetBool(p, "centered") ? 1 : 0) + (GetDouble(p, "momentum") > 0 ? 1 : 0);
  }
  // Factored slots keep only a row and a column vector; vectors keep one full tensor.
  if (name == "adafactor") return GetDouble(p, "beta1") > 0 ? 2 : 1;
  // ---- matrix-aware optimizers ----
  if (auto n = MatrixOptimizerStateTensorsPerSlot(name, p)) return *n;
  return NoBuilder(name);
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// adam and adamw declare the same hyperparameters; only the decay rule differs.
AdamOptions AdamOptionsFromParams(const ParamMap& p) {
  AdamOptions options;
  options.beta1 = GetDouble(p, "beta1");
  options.beta2 = GetDouble(p, "beta2");
  options.eps = GetDouble(p, "eps");
  options.bias_correction = GetBool(p, "bias_correction");
  options.weight_decay = GetDouble(p, "weight_decay");
  options.amsgrad = GetBool(p, "amsgrad");
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                         const ParamMap& params) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec,
                            FindComponent(ComponentKind::kOptimizer, name));
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, ValidateParams(*spec, params));
  if (name == "gd" || name == "sgd") {
    GradientDescentOptions options;
    options.momentum = GetDouble(p, "momentum");
    options.nesterov = GetBool(p, "nesterov");
    options.weight_decay = GetDouble(p, "weight_decay");
    if (options.nesterov && options.momentum == 0) {
      return absl::InvalidArgumentError(
          "optimizer.nesterov: true requires momentum > 0 (as torch.optim.SGD)");
    }
    return std::make_unique<GradientDescent>(options);
  }
  if (name == "sign_descent") return std::make_unique<SignDescent>(GetDouble(p, "momentum"));
  if (name == "normalized_gd") {
    return std::make_unique<NormalizedGradientDescent>(GetDouble(p, "momentum"));
  }
  if (name == "adam") return std::make_unique<Adam>(AdamOptionsFromParams(p));
  // ---- elementwise optimizers ----
  if (name == "adamw") return std::make_unique<AdamW>(AdamOptionsFromParams(p));
  if (name == "adagrad") {
    AdagradOptions options;
    options.lr_decay = GetDouble(p, "lr_decay");
    options.weight_decay = GetDouble(p, "weight_decay");
    options.initial_accumulator_value = GetDouble(p, "initial_accumulator_value");
    options.eps = GetDouble(p, "eps");
    return std::make_unique<Adagrad>(options);
  }
  if (name == "rmsprop") {
    RmspropOptions options;
    options.alpha = GetDouble(p, "alpha");
    options.eps = GetDouble(p, "eps");
    options.weight_decay = GetDouble(p, "weight_decay");
    options.momentum = GetDouble(p, "momentum");
    options.centered = GetBool(p, "centered");
    return std::make_unique<Rmsprop>(options);
  }
  if (name == "scaled_sign") return std::make_unique<ScaledSignDescent>(GetDouble(p, "momentum"));
  if (name == "signum") {
    SignumOptions options;
    options.beta1 = GetDouble(p, "beta1");
    options.lookahead = GetDouble(p, "lookahead");
    options.weight_decay = GetDouble(p, "weight_decay");
    return std::make_unique<Signum>(options);
  }
  if (name == "lion") {
    LionOptions options;
    options.beta1 = GetDouble(p, "beta1");
    options.beta2 = GetDouble(p, "beta2");
    options.weight_decay = GetDouble(p, "weight_decay");
    return std::make_unique<Lion>(options);
  }
  if (name == "adafactor") {
    AdafactorOptions options;
    options.eps1 = GetDouble(p, "eps1");
    options.eps2 = GetDouble(p, "eps2");
    options.clip_threshold = GetDouble(p, "clip_threshold");
    options.decay_rate = GetDouble(p, "decay_rate");
    options.beta1 = GetDouble(p, "beta1");
    options.relative_step = GetBool(p, "relative_step");
    options.scale_parameter = GetBool(p, "scale_parameter");
    return std::make_unique<Adafactor>(options);
  }
  // ---- matrix-aware optimizers ----
  OPTBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> matrix,
                            MakeMatrixOptimizer(name, params, p));
  if (matrix != nullptr) return matrix;
  return NoBuilder(name);
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
