// The `npy` data set: features and labels in NumPy .npy files (format versions 1.0, 2.0 and 3.0,
// numpy/lib/format.py): features a 2-D C-order float32 or float64 array (rows are examples),
// labels a 1-D int32 or int64 array, little-endian.
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_NPY_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"

namespace optbench::engine {

// The header of a .npy file.
struct NpyHeader {
  char kind = 0;      // 'f' (float) or 'i' (signed integer).
  int item_size = 0;  // Bytes per element: 4 or 8.
  std::vector<int64_t> shape;
  int64_t data_offset = 0;  // Where the data starts in the file.
};

// Reads and checks the header. InvalidArgument, message "<path>: ...", for: a file that cannot be
// opened, a missing or wrong magic, an unknown format version, a malformed header dictionary,
// fortran_order True, a dtype other than little-endian float32/float64/int32/int64 ('<f4',
// '<f8', '<i4', '<i8'; names the dtype), a negative or huge shape.
absl::StatusOr<NpyHeader> ReadNpyHeader(const std::string& path);

struct NpyOptions {
  std::string features_path;
  std::string labels_path;
  std::string test_features_path;  // Both test paths or neither.
  std::string test_labels_path;
  int64_t num_classes = 0;  // 0 = one more than the largest label in either split.
};

// Sizes without loading the data: rows of both splits, features, classes (from options; when 0,
// the labels files are read). Errors as LoadNpyDataset for what it reads.
struct NpyShape {
  int64_t train_rows = 0;
  int64_t test_rows = 0;
  int64_t num_features = 0;
  int64_t num_classes = 0;
};
absl::StatusOr<NpyShape> ScanNpyShape(const NpyOptions& options);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Loads the files. InvalidArgument naming the file (and, for values, the index) for: any
// ReadNpyHeader error, features that are not 2-D or have no column or no row, labels that are
// not 1-D or not floats/ints as required, a features file whose dtype is an integer or a labels
// file whose dtype is a float, data shorter than the header declares ("truncated") or bytes after
// it, a non-finite feature or one that does not fit the engine precision, a negative label, a
// label >= num_classes (when set) or > 10^7 - 1, feature and label row counts that differ, test
// features with another column count than the train features, only one of the two test paths.
// Throws std::bad_alloc if the data does not fit in memory.
absl::StatusOr<Dataset> LoadNpyDataset(const NpyOptions& options);

// The registered "npy".
const DatasetDef& NpyDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_NPY_H_
