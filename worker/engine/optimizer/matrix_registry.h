// Builders of the matrix-aware optimizers (muon, adamuon, soap, shampoo, splus, spa) from validated
// catalog parameters, called by registry.cc.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_MATRIX_REGISTRY_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_MATRIX_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/params.h"

namespace optbench::engine {

// For a matrix-aware optimizer `name`: state tensors per slot counted in slot-sized units for a
// square slot (factors and bases are rows^2 and cols^2, i.e. one slot each when square):
// muon 1, adamuon 2 (full variance) or 1 (rank-1: plus a row and a column), soap 6, shampoo 6,
// splus 5, spa 6. nullopt for other names. `validated` passed ValidateParams.
std::optional<int64_t> MatrixOptimizerStateTensorsPerSlot(const std::string& name,
                                                          const ParamMap& validated);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds matrix-aware optimizer `name` from `validated` (defaults filled). `given` is what the
// user passed: a parameter that the chosen variant does not use is InvalidArgument (never
// silently ignored). Returns nullptr (OK) when `name` is not a matrix-aware optimizer.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeMatrixOptimizer(const std::string& name,
                                                               const ParamMap& given,
                                                               const ParamMap& validated);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_MATRIX_REGISTRY_H_
