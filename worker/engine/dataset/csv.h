// The `csv` data set: a user's CSV files (a header row, numeric feature columns and one integer
// label column chosen by name), loaded with errors that name the file, line and column.
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_CSV_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_CSV_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"

namespace optbench::engine {

struct CsvOptions {
  std::string train_path;
  std::string test_path;  // Empty = no test split.
  std::string label_column = "label";
  int64_t num_classes = 0;  // 0 = one more than the largest label in either file.
};

// Format accepted: the first line is a header of column names; each later non-blank line has
// exactly as many comma-separated fields. Fields may be wrapped in double quotes ("" inside
// quotes is a quote; quoted fields cannot span lines); surrounding spaces and a trailing \r are
// ignored. Every column except the label column is a feature, in file order; the test file must
// have the same header. Features are finite decimal numbers that fit the engine precision;
// labels are non-negative integers (written as integers or as integral numbers such as 3.0).

// The largest label accepted (the catalog's limit on num_classes, minus one).
inline constexpr int64_t kCsvMaxLabel = 10'000'000 - 1;

// Sizes of a CSV data set without loading it (for memory estimates): data rows of both files,
// feature columns, and the number of classes (from options, or the largest label + 1, which
// parses the label column). Errors as LoadCsvDataset for what it reads.
struct CsvShape {
  int64_t train_rows = 0;
  int64_t test_rows = 0;
  int64_t num_features = 0;
  int64_t num_classes = 0;
};
absl::StatusOr<CsvShape> ScanCsvShape(const CsvOptions& options);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Loads the files. InvalidArgument, message "<file>:<line>: ..." naming the column where there is
// one, for: a file that cannot be opened (no line), an empty file or one without data rows, no
// column named label_column (or two), no feature column, a wrong number of fields, a field that
// is not a number or not finite or does not fit the precision, a negative, non-integral or
// too-large label, a label >= num_classes when num_classes > 0, a test header different from the
// train header. Throws std::bad_alloc if the features do not fit in memory.
absl::StatusOr<Dataset> LoadCsvDataset(const CsvOptions& options);

// The registered "csv".
const DatasetDef& CsvDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_CSV_H_
