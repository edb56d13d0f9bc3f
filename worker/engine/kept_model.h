// Kept models (issue 11): the final parameters of a train job with trainer.keep_model, as the
// coordinator stores them and the quantize task reads them back.
//
// Format, version 1 (little-endian): the parameters as a state_io blob (state_io.h: slot id ->
// {"value": tensor}, step 0), which carries its own magic, version, precision tag and FNV-1a
// checksum. A model is rebuilt from its job's spec (model component, data shape and seed, which
// also fixes any frozen tensors) and its parameters are then overwritten from these bytes.
#ifndef OPTBENCH_WORKER_ENGINE_KEPT_MODEL_H_
#define OPTBENCH_WORKER_ENGINE_KEPT_MODEL_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "worker/engine/param_slot.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The bytes of the current values of `params`. Never fails.
std::string SaveKeptModel(const std::vector<ParamSlot>& params);

// Writes the values stored in `bytes` into `params` after checking all of them (nothing is
// written on error). Errors: DataLoss for corrupt bytes (naming the problem); FailedPrecondition
// for bytes of another precision, or whose slots or shapes differ from `params` (naming the slot).
absl::Status LoadKeptModel(std::string_view bytes, const std::vector<ParamSlot>& params);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_KEPT_MODEL_H_
