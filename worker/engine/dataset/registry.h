// The dataset factory: builds a Dataset from a catalog name and its parameters (catalog.cc
// declares them; this file maps each declared name to its builder).
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_REGISTRY_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_REGISTRY_H_

#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/params.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds dataset `name` from `params` (validated here against the catalog, defaults filled).
// InvalidArgument for an unknown name or bad parameters (catalog messages) and for data that
// cannot be loaded (csv: "<file>:<line>: ..."). Throws std::bad_alloc if the data does not fit
// in memory (RunJob turns that into ResourceExhausted).
absl::StatusOr<Dataset> MakeDataset(const std::string& name, const ParamMap& params);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_REGISTRY_H_
