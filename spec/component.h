// Declarations of components and tasks: what the catalog holds. A component (an optimizer, a
// model, a data set, an objective) and a task declare here, beside their code in worker/engine,
// their parameters, docs, metrics and the rules that span parameters or components. Eigen-free:
// the coordinator, sweep files and clients validate specs with them.
#ifndef OPTBENCH_SPEC_COMPONENT_H_
#define OPTBENCH_SPEC_COMPONENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "spec/job_spec.h"
#include "spec/metric.h"
#include "spec/params.h"

namespace optbench::spec {

enum class ComponentKind { kDataset, kModel, kOptimizer, kObjective };
const char* ComponentKindName(ComponentKind kind);  // "dataset", "model", ...

// What validation can know of a data set from its parameters alone, before any file is read.
struct DataTraits {
  std::optional<int64_t> num_classes;
  std::optional<int64_t> num_features;
  std::optional<int64_t> train_rows;
};

// Declaration of one registered component. Hooks are optional (null = nothing to check); each
// gets the component's validated parameters (every default filled in).
struct ComponentSpec {
  ComponentKind kind = ComponentKind::kOptimizer;
  std::string name;
  std::string doc;  // One line.
  std::vector<ParamSpec> params;
  // Rules across the component's own parameters beyond ParamSpec::used_when (InvalidArgument
  // naming "<kind>.<param>"; the catalog renames the prefix to the slot).
  std::function<absl::Status(const ParamMap&)> check;
  // Data sets: what the parameters fix of the data's shape.
  std::function<DataTraits(const ParamMap&)> traits;
  // Models and objectives: whether they can take a data set with these traits (InvalidArgument
  // naming the mismatch; "model.name: ..." style).
  std::function<absl::Status(const ParamMap&, const DataTraits&)> accepts;
  // Models with block-wise access (the engine's Model::Blocks): the number of blocks between
  // the embedding and the head for these parameters, without building the model (a quantize
  // job's progress units). Null = no block-wise access.
  std::function<int64_t(const ParamMap&)> blocks;
  // Capabilities that must meet within one job: a component that `needs` one is refused unless
  // another component of the job `provides` it ("token_ids": rows of token ids whose label is
  // the next token; "positions": a model that can output every position of such a row).
  std::vector<std::string> provides;
  std::vector<std::string> needs;
  // Metrics the component emits when chosen (an objective's per-class statistics, a model's
  // diagnostics), beside its task's own.
  std::vector<MetricSpec> metrics;
};

// One component slot of a task.
struct SlotSpec {
  std::string name;  // The key in sweep files and JobSpec::components ("optimizer").
  ComponentKind kind = ComponentKind::kOptimizer;
  bool required = true;
  // Optional slots: the component filled in when none is given ("" = the slot stays empty).
  std::string default_component;
  // Whether sweep files may give alternatives and grid axes for it (else one setting).
  bool grid = true;
  std::string doc;
};

class Catalog;

// Declaration of a task: the unit a job runs ("train"; "convex_relu", "quantize" later).
struct TaskSpec {
  std::string name;
  std::string doc;
  std::vector<SlotSpec> slots;  // In sweep expansion order (first = outermost).
  // The slot whose parameters label jobs by bare name ("lr" rather than "optimizer.lr").
  std::string labelled_slot;
  std::string settings_key;  // The sweep-file key of the settings ("trainer").
  std::vector<ParamSpec> settings;
  std::vector<MetricSpec> metrics;  // The task's own (its loop's and observers'), every one it
                                    // may emit; chosen components add theirs.
  // Rules across components and settings, given a spec whose every part passed its own checks.
  std::function<absl::Status(const JobSpec&, const Catalog&)> check;
  // Progress units of a job (optimizer steps for "train"): the coordinator's total_steps.
  std::function<int64_t(const JobSpec&)> total_steps;
  // Tasks that work on the model another job kept (quantize; issue 11). Such a task declares the
  // string setting kSourceSetting and the int setting kSourceSeedSetting. A spec as submitted
  // names its source in kSourceSetting: a job id ("j-..."), or a filter "sweep=<id or name>"
  // followed by ",<label>=<value>" terms (a sweep file's `source: {sweep: s-1, optimizer: adam}`).
  // At submission the coordinator resolves it against its database to finished (SUCCEEDED)
  // jobs that kept a model, one job per match, and in each sets kSourceSetting to the source's
  // job id, kSourceSeedSetting to its seed, and copies the source's components of
  // `source_slots` (e.g. dataset, model, objective) into the job. Empty = not such a task.
  std::vector<std::string> source_slots;
};

inline constexpr char kSourceSetting[] = "source";
inline constexpr char kSourceSeedSetting[] = "source_seed";

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_COMPONENT_H_
