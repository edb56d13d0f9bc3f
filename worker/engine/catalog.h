// The catalog: declarations of every registered dataset, model and optimizer, and validation of
// a whole job spec against them. Eigen-free (the coordinator links it to validate at submit).
#ifndef OPTBENCH_WORKER_ENGINE_CATALOG_H_
#define OPTBENCH_WORKER_ENGINE_CATALOG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/job_spec.h"
#include "worker/engine/params.h"

namespace optbench::engine {

// All declared components of `kind`, sorted by name.
std::vector<const ComponentSpec*> ListComponents(ComponentKind kind);

// NotFound is never returned: an unknown name is InvalidArgument naming the kind, the bad name
// and the known names ("unknown optimizer 'adma'; known: adam, gd, normalized_gd, sign_descent").
absl::StatusOr<const ComponentSpec*> FindComponent(ComponentKind kind, const std::string& name);

// Validates every part of `spec` (component names, their params, trainer settings, cross-field
// rules such as batch_size <= dataset size where knowable) and returns it with all defaults
// filled. InvalidArgument naming the field ("optimizer.lr", "trainer.steps") and the allowed
// values on any problem.
absl::StatusOr<JobSpec> ValidateJobSpec(const JobSpec& spec);

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_CATALOG_H_
