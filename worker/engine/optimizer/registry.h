// The optimizer factory: builds an Optimizer from a catalog name and its parameters (catalog.cc
// declares the names and parameters).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_REGISTRY_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/params.h"

namespace optbench::engine {

// State tensors per parameter tensor that optimizer `name` keeps with `params` (for memory
// estimates): 0 for plain gd, 1 with momentum, 2 for Adam with beta1 > 0. InvalidArgument for an
// unknown name or bad parameters.
absl::StatusOr<int64_t> OptimizerStateTensorsPerSlot(const std::string& name,
                                                     const ParamMap& params);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds optimizer `name` from `params` (validated here against the catalog, defaults filled).
// The step size ("lr", declared by every optimizer) is not part of the optimizer: it is passed to
// each Step. InvalidArgument for an unknown name or bad parameters.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                         const ParamMap& params);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_REGISTRY_H_
