// Catalog: every registered task and component, and the validation of a whole job spec against
// them. Built from the engine's explicit tables (worker/engine/catalog.h: one table per kind, no
// static self-registration) and handed to whoever validates — the coordinator, sweep files, the
// CLI — so that nothing above the worker depends on worker/.
#ifndef OPTBENCH_SPEC_CATALOG_H_
#define OPTBENCH_SPEC_CATALOG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/component.h"
#include "spec/job_spec.h"
#include "spec/metric.h"

namespace optbench::spec {

// Immutable after construction; thread-safe. Does not own the declarations, which must outlive
// it (the engine's tables live for the whole process).
class Catalog {
 public:
  // `tasks` in table order: the first is the default task. Preconditions (checked): at least one
  // task; names unique per kind; every slot's default component declared; every metric name
  // valid and unique within a task and its components.
  Catalog(std::vector<const TaskSpec*> tasks, std::vector<const ComponentSpec*> components);

  // Tasks in table order (the default first).
  const std::vector<const TaskSpec*>& tasks() const { return tasks_; }
  // Components of `kind`, sorted by name.
  std::vector<const ComponentSpec*> List(ComponentKind kind) const;

  // InvalidArgument naming the kind, the bad name and the known names ("optimizer.name: unknown
  // optimizer 'adma'; known: adam, ..."), or "missing" for an empty name.
  absl::StatusOr<const ComponentSpec*> Find(ComponentKind kind, absl::string_view name) const;
  // Validates one component's parameters and its own rules: the parameters with defaults filled
  // in. `slot` names it in messages ("aux_optimizer.beta1: ..."; empty = the kind's name).
  // InvalidArgument as Find and ValidateParams.
  absl::StatusOr<ParamMap> ValidateComponent(ComponentKind kind, absl::string_view name,
                                             const ParamMap& params,
                                             absl::string_view slot = "") const;

  // "" = the default task. InvalidArgument "task: unknown task 'x'; known: ..." otherwise.
  absl::StatusOr<const TaskSpec*> FindTask(absl::string_view name) const;

  // Validates every part of `spec` — the task name, a component for every required slot and
  // none in slots the task lacks, each component's parameters and its own rules, the settings,
  // capabilities, and the task's rules across components — and returns it with every default
  // filled in (the task's name, optional slots' default components, parameters, settings).
  // InvalidArgument naming the field ("optimizer.lr", "trainer.steps", "aux_optimizer.name") and
  // what is allowed. Idempotent: Validate(*Validate(s)) == *Validate(s).
  absl::StatusOr<JobSpec> Validate(const JobSpec& spec) const;

  // Every metric a job may emit: its task's and its components' (optional slots left empty count
  // their default component). Parts this catalog does not know add nothing.
  std::vector<MetricSpec> Metrics(const JobSpec& spec) const;
  // The names of components that provide capability `capability`, sorted, for messages.
  std::vector<std::string> Providers(absl::string_view capability) const;

 private:
  std::vector<const TaskSpec*> tasks_;
  std::vector<const ComponentSpec*> components_;  // Sorted by (kind, name).
};

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_CATALOG_H_
