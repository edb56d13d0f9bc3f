#include "worker/engine/model/registry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/linear.h"

namespace optbench::engine {

absl::StatusOr<int64_t> ModelParameterCount(const std::string& name, const ParamMap& params,
                                            int64_t num_features, int64_t num_classes) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec, FindComponent(ComponentKind::kModel, name));
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, ValidateParams(*spec, params));
  if (name == "linear") return num_classes * (num_features + (GetBool(p, "bias") ? 1 : 0));
  return absl::InternalError(absl::StrCat("model '", name, "' is declared but has no builder"));
}

inline namespace OPTBENCH_ENGINE_PRECISION {

absl::StatusOr<std::unique_ptr<Model>> MakeModel(const std::string& name, const ParamMap& params,
                                                 int64_t num_features, int64_t num_classes,
                                                 uint64_t seed) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec, FindComponent(ComponentKind::kModel, name));
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, ValidateParams(*spec, params));
  if (name == "linear") {
    const LinearInit init =
        GetString(p, "init") == "uniform" ? LinearInit::kUniform : LinearInit::kZeros;
    return std::unique_ptr<Model>(
        new LinearModel(num_features, num_classes, GetBool(p, "bias"), init, seed));
  }
  return absl::InternalError(absl::StrCat("model '", name, "' is declared but has no builder"));
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
