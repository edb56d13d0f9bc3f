#include "worker/engine/kept_model.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "worker/engine/param_values.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr char kWhat[] = "kept model";

}  // namespace

std::string SaveKeptModel(const std::vector<ParamSlot>& params) {
  return SaveParamValues(params, /*step=*/0);
}

absl::Status LoadKeptModel(std::string_view bytes, const std::vector<ParamSlot>& params) {
  OPTBENCH_ASSIGN_OR_RETURN(ParsedParamValues parsed, ParseParamValues(bytes, params, kWhat));
  // Step 0 tells a kept model from the parameters inside a checkpoint, which share the format.
  if (parsed.step != 0) {
    return absl::DataLossError(
        absl::StrCat(kWhat, ": parameters of step ", parsed.step,
                     " (the parameter part of a checkpoint?); a kept model is stored with step 0"));
  }
  OPTBENCH_CHECK(parsed.values.size() == params.size());
  for (size_t i = 0; i < params.size(); ++i) *params[i].value = std::move(parsed.values[i]);
  return absl::OkStatus();
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
