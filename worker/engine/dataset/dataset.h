// Dataset: the in-memory train split and optional test split of a classification problem, as
// every model and the trainer see it (ALGORITHMS.md 1.1; DESIGN.md "Engine interfaces").
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_DATASET_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_DATASET_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// One split: examples are the rows of `features` (n x d, row-major); `labels[i]` is the class of
// row i, in [0, num_classes).
struct DataSplit {
  Matrix features;
  std::vector<int32_t> labels;
  std::vector<int64_t> class_counts;  // Filled by Dataset: length num_classes.

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// An immutable data set. Built by the factories in dataset/registry.h; movable, not copyable
// (it may hold gigabytes). Thread-safe for concurrent reads.
class Dataset {
 public:
  // Takes the splits and computes their per-class counts. Preconditions (checked, abort):
  // num_classes >= 1; the train split is non-empty; each split has one label per feature row,
  // every label in [0, num_classes); a test split has the train split's feature count.
  // Builders validate outside input (files) before calling this.
  Dataset(int64_t num_classes, DataSplit train, std::optional<DataSplit> test);

  Dataset(Dataset&&) = default;
  Dataset& operator=(Dataset&&) = default;
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  int64_t num_classes() const { return num_classes_; }
  int64_t num_features() const { return train_.features.cols(); }
  const DataSplit& train() const { return train_; }
  bool has_test() const { return test_.has_value(); }
  // Precondition: has_test().
  const DataSplit& test() const;

 private:
  int64_t num_classes_;
  DataSplit train_;
  std::optional<DataSplit> test_;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_DATASET_H_
