// DatasetDef: a registered data set — its declaration (parameters, doc, what its parameters fix
// of its shape) and how it is loaded and sized — written once, in the data set's own .cc file
// with DefineDataset, and listed in the data-set table (worker/engine/catalog.cc).
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_DATASET_DEF_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_DATASET_DEF_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "spec/component.h"
#include "spec/options.h"
#include "worker/engine/dataset/dataset.h"

namespace optbench::engine {

// What a data set holds, for memory estimates (exact for synthetic data, from file headers or a
// scan otherwise).
struct DataFootprint {
  int64_t train_rows = 0;
  int64_t test_rows = 0;
  int64_t num_features = 0;
  int64_t num_classes = 0;
  int64_t raw_bytes = 0;  // File contents held while the features are built.
};

inline namespace OPTBENCH_ENGINE_PRECISION {

struct DatasetDef {
  spec::ComponentSpec spec;
  // Loads or generates the data from validated parameters. InvalidArgument for data that cannot
  // be loaded ("<file>:<line>: ..."). Throws std::bad_alloc if it does not fit in memory.
  std::function<absl::StatusOr<Dataset>(const spec::ParamMap&)> build;
  // InvalidArgument for files that cannot be read or parsed.
  std::function<absl::StatusOr<DataFootprint>(const spec::ParamMap&)> footprint;
};

// Defines data set `name` from the bound options of O. `build`, `footprint`, `traits` (what the
// parameters fix of the shape, for validation; optional) and `check` (rules across the
// parameters, InvalidArgument "dataset.<param>: ..."; optional) get the options read from
// validated parameters.
template <typename O>
DatasetDef DefineDataset(std::string name, std::string doc, spec::Binding<O> binding,
                         std::function<absl::StatusOr<Dataset>(const O&)> build,
                         std::function<absl::StatusOr<DataFootprint>(const O&)> footprint,
                         std::function<spec::DataTraits(const O&)> traits = nullptr,
                         std::function<absl::Status(const O&)> check = nullptr) {
  DatasetDef def;
  def.spec.kind = spec::ComponentKind::kDataset;
  def.spec.name = std::move(name);
  def.spec.doc = std::move(doc);
  def.spec.params = binding.params();
  if (traits) {
    def.spec.traits = [binding, traits](const spec::ParamMap& p) {
      return traits(binding.Read(p));
    };
  }
  if (check) {
    def.spec.check = [binding, check](const spec::ParamMap& p) { return check(binding.Read(p)); };
  }
  def.build = [binding, build](const spec::ParamMap& p) { return build(binding.Read(p)); };
  def.footprint = [binding, footprint](const spec::ParamMap& p) {
    return footprint(binding.Read(p));
  };
  return def;
}

// File data sets: the footprint of a scanned shape (CsvShape, NpyShape: train_rows, test_rows,
// num_features, num_classes), and the traits of a num_classes parameter (0 = read from the
// labels, so unknown until then).
template <typename Shape>
absl::StatusOr<DataFootprint> ScannedFootprint(const absl::StatusOr<Shape>& s) {
  if (!s.ok()) return s.status();
  return DataFootprint{s->train_rows, s->test_rows, s->num_features, s->num_classes, 0};
}
inline spec::DataTraits ClassesIfGiven(int64_t num_classes) {
  spec::DataTraits traits;
  if (num_classes > 0) traits.num_classes = num_classes;
  return traits;
}

// The "data_seed" parameter of generated and subsampled data sets.
template <typename O>
spec::Field<O> DataSeedField(uint64_t O::*member) {
  return spec::Bind(member, "data_seed", spec::Closed(0, 9.0e15),
                    "seed of the data generator (the job seed drives init and sampling only)");
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_DATASET_DEF_H_
