#include "worker/engine/dataset/dataset.h"

#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

void FillCounts(int64_t num_classes, DataSplit* split) {
  OPTBENCH_CHECK(split->features.rows() == split->size());
  split->class_counts.assign(static_cast<size_t>(num_classes), 0);
  for (int32_t label : split->labels) {
    OPTBENCH_CHECK(label >= 0 && label < num_classes);
    ++split->class_counts[static_cast<size_t>(label)];
  }
}

}  // namespace

Dataset::Dataset(int64_t num_classes, DataSplit train, std::optional<DataSplit> test)
    : num_classes_(num_classes), train_(std::move(train)), test_(std::move(test)) {
  OPTBENCH_CHECK(num_classes_ >= 1);
  OPTBENCH_CHECK(train_.size() >= 1);
  FillCounts(num_classes_, &train_);
  if (test_.has_value()) {
    OPTBENCH_CHECK(test_->features.cols() == train_.features.cols());
    FillCounts(num_classes_, &*test_);
  }
}

const DataSplit& Dataset::test() const {
  OPTBENCH_CHECK(test_.has_value());
  return *test_;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
