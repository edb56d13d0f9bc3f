#include "worker/engine/optimizer/registry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/catalog.h"
#include "worker/engine/optimizer/adam.h"
#include "worker/engine/optimizer/gd.h"
#include "worker/engine/optimizer/normalized_gd.h"
#include "worker/engine/optimizer/sign_descent.h"

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
  if (name == "adam") return GetDouble(p, "beta1") > 0 ? 2 : 1;
  // ---- elementwise optimizers ----
  // ---- matrix-aware optimizers ----
  return NoBuilder(name);
}

inline namespace OPTBENCH_ENGINE_PRECISION {

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                         const ParamMap& params) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec,
                            FindComponent(ComponentKind::kOptimizer, name));
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, ValidateParams(*spec, params));
  if (name == "gd") return std::make_unique<GradientDescent>(GetDouble(p, "momentum"));
  if (name == "sign_descent") return std::make_unique<SignDescent>(GetDouble(p, "momentum"));
  if (name == "normalized_gd") {
    return std::make_unique<NormalizedGradientDescent>(GetDouble(p, "momentum"));
  }
  if (name == "adam") {
    AdamOptions options;
    options.beta1 = GetDouble(p, "beta1");
    options.beta2 = GetDouble(p, "beta2");
    options.eps = GetDouble(p, "eps");
    options.bias_correction = GetBool(p, "bias_correction");
    return std::make_unique<Adam>(options);
  }
  // ---- elementwise optimizers ----
  // ---- matrix-aware optimizers ----
  return NoBuilder(name);
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
