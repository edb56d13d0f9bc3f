// A catalog for tests of kept models and sources: the engine's tasks and components, plus
// "refine", a test-only task that works on the model another job kept (spec::TaskSpec::
// source_slots), standing in for such tasks (quantize) in tests of the machinery they use:
// sweep files' `source:`, resolution at submission, LoadSourceModel. It never runs.
#ifndef OPTBENCH_TESTS_TESTING_SOURCE_CATALOG_H_
#define OPTBENCH_TESTS_TESTING_SOURCE_CATALOG_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "spec/catalog.h"
#include "spec/component.h"
#include "worker/engine/catalog.h"

namespace optbench::testing {

inline constexpr char kRefineTask[] = "refine";

// refine: the source's dataset, model and objective copied in (source_slots), an optional
// optimizer (the labelled slot) and settings refine.source, refine.source_seed and refine.steps.
inline spec::TaskSpec RefineTaskSpec() {
  using spec::ComponentKind;
  spec::TaskSpec t;
  t.name = kRefineTask;
  t.doc = "test only: works on the model another job kept";
  t.slots = {
      {"dataset", ComponentKind::kDataset, false, "", false, "the source's (copied in)"},
      {"model", ComponentKind::kModel, false, "", false, "the source's (copied in)"},
      {"objective", ComponentKind::kObjective, false, "", false, "the source's (copied in)"},
      {"optimizer", ComponentKind::kOptimizer, false, "", true, "optional"},
  };
  t.labelled_slot = "optimizer";
  t.settings_key = "refine";
  t.settings = {
      spec::StringParam(spec::kSourceSetting, "", {}, "the source job"),
      spec::IntParam(spec::kSourceSeedSetting, 0, spec::Closed(0, 9.0e15), "its seed"),
      spec::IntParam("steps", 1, spec::Closed(1, 1000), "steps"),
  };
  t.check = [](const spec::JobSpec& spec, const spec::Catalog&) {
    if (spec::GetString(spec.settings, spec::kSourceSetting).empty()) {
      return absl::InvalidArgumentError("source: missing");
    }
    return absl::OkStatus();
  };
  t.total_steps = [](const spec::JobSpec& spec) { return spec::GetInt(spec.settings, "steps"); };
  t.source_slots = {"dataset", "model", "objective"};
  return t;
}

inline const spec::Catalog& SourceCatalog() {
  static const spec::Catalog* catalog = [] {
    static const spec::TaskSpec refine = RefineTaskSpec();
    std::vector<const spec::TaskSpec*> tasks = engine::Catalog().tasks();
    tasks.push_back(&refine);
    std::vector<const spec::ComponentSpec*> components;
    for (spec::ComponentKind kind :
         {spec::ComponentKind::kDataset, spec::ComponentKind::kModel,
          spec::ComponentKind::kOptimizer, spec::ComponentKind::kObjective}) {
      for (const spec::ComponentSpec* c : engine::Catalog().List(kind)) components.push_back(c);
    }
    return new spec::Catalog(std::move(tasks), std::move(components));
  }();
  return *catalog;
}

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_TESTING_SOURCE_CATALOG_H_
