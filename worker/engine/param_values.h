// The values of a model's parameters as bytes: a state_io blob (optimizer/state_io.h) holding
// slot id -> {"value": tensor}. The part checkpoints (checkpoint.h) and kept models
// (kept_model.h) share, so both read and check parameters the same way.
#ifndef OPTBENCH_WORKER_ENGINE_PARAM_VALUES_H_
#define OPTBENCH_WORKER_ENGINE_PARAM_VALUES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/engine/param_slot.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The bytes of the current values of `params`, tagged with `step`. Never fails.
std::string SaveParamValues(const std::vector<ParamSlot>& params, int64_t step);

// Parameter values read back and checked against a model, not yet applied.
struct ParsedParamValues {
  int64_t step = 0;
  std::vector<Matrix> values;  // One per slot of `params`, in its order.
};

// Parses `bytes` and checks that they hold exactly the parameters of `params` (ids and shapes).
// `what` names the bytes in messages ("checkpoint", "kept model"). Errors: DataLoss for corrupt
// bytes ("<what> parameters: <problem>"); FailedPrecondition for another version or precision,
// another number of tensors, or a slot missing or of another shape ("<what> parameter 'x' is
// 3 x 4; this model's is 4 x 4").
absl::StatusOr<ParsedParamValues> ParseParamValues(std::string_view bytes,
                                                   const std::vector<ParamSlot>& params,
                                                   absl::string_view what);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_PARAM_VALUES_H_
