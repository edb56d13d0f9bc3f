// The engine's tables: one explicit list per kind of everything registered (tasks, data sets,
// models, optimizers, objectives; no static self-registration), the spec::Catalog built from
// them, and lookups from a validated name to its definition.
//
// Adding a component: its .h/.cc with a definition (DefineOptimizer, DefineModel, DefineDataset,
// ObjectiveDef, TaskDef) and one line in the table of its kind in catalog.cc
// (docs/ARCHITECTURE.md has the recipe for each kind).
#ifndef OPTBENCH_WORKER_ENGINE_CATALOG_H_
#define OPTBENCH_WORKER_ENGINE_CATALOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/catalog.h"
#include "worker/engine/dataset/dataset_def.h"
#include "worker/engine/model/model_def.h"
#include "worker/engine/objective/objective.h"
#include "worker/engine/optimizer/optimizer_def.h"
#include "worker/engine/task/task.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The tables, in listing order (the first task is the default).
const std::vector<const TaskDef*>& Tasks();
const std::vector<const DatasetDef*>& Datasets();
const std::vector<const ModelDef*>& Models();
const std::vector<const OptimizerDef*>& Optimizers();
const std::vector<const ObjectiveDef*>& Objectives();

// Every declaration of the tables: what the coordinator, sweep files and the CLI validate with.
const spec::Catalog& Catalog();

// The definition of a name the catalog knows. Precondition (checked): the name is registered
// (specs are validated before anything is built).
const TaskDef& FindTask(const std::string& name);
const DatasetDef& FindDataset(const std::string& name);
const ModelDef& FindModel(const std::string& name);
const OptimizerDef& FindOptimizer(const std::string& name);
const ObjectiveDef& FindObjective(const std::string& name);

// Validate-and-build shortcuts for one component outside a job (tests, benchmarks, the
// parameter-group optimizer). InvalidArgument as spec::Catalog::ValidateComponent, or from the
// builder (a model that does not fit the data's shape, a data file that does not parse).
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                         const spec::ParamMap& params);
absl::StatusOr<std::unique_ptr<Model>> MakeModel(const std::string& name,
                                                 const spec::ParamMap& params, int64_t num_features,
                                                 int64_t num_classes, uint64_t seed);
absl::StatusOr<Dataset> MakeDataset(const std::string& name, const spec::ParamMap& params);
// State tensors per parameter tensor (OptimizerDef::state_tensors).
absl::StatusOr<int64_t> OptimizerStateTensorsPerSlot(const std::string& name,
                                                     const spec::ParamMap& params);
// ModelDef::footprint for one output row per example.
absl::StatusOr<ModelFootprint> ModelFootprintOf(const std::string& name,
                                                const spec::ParamMap& params, int64_t num_features,
                                                int64_t num_classes);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_CATALOG_H_
