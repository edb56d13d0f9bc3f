// The model factory: builds a Model from a catalog name and its parameters for a data set's
// shape (catalog.cc declares the names and parameters).
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_REGISTRY_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/model/model.h"
#include "worker/engine/params.h"

namespace optbench::engine {

// Parameters of model `name` over `num_features` inputs and `num_classes` outputs (weights and
// biases, not their gradients). InvalidArgument for an unknown name or bad parameters.
absl::StatusOr<int64_t> ModelParameterCount(const std::string& name, const ParamMap& params,
                                            int64_t num_features, int64_t num_classes);

// Work-buffer entries (Reals) the model keeps per row of a chunk (hidden activations and their
// gradients), for memory estimates; 0 for the linear model. InvalidArgument as
// ModelParameterCount.
absl::StatusOr<int64_t> ModelBufferRealsPerRow(const std::string& name, const ParamMap& params,
                                               int64_t num_features, int64_t num_classes);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds model `name` from `params` (validated here against the catalog, defaults filled) with
// random initialization from `seed` (the job seed). InvalidArgument for an unknown name or bad
// parameters. Preconditions: num_features >= 1, num_classes >= 1. Throws std::bad_alloc if the
// parameters do not fit in memory.
absl::StatusOr<std::unique_ptr<Model>> MakeModel(const std::string& name, const ParamMap& params,
                                                 int64_t num_features, int64_t num_classes,
                                                 uint64_t seed);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_REGISTRY_H_
