// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; 60,000 train and 10,000 test 28 x 28 grey images
// of 10 clothing classes) read from its IDX files, as Debian's dataset-fashion-mnist package
// installs them, with paper 1's preprocessing (ALGORITHMS.md 1.1 D4: per-pixel standardization)
// and an optional seeded heavy-tailed subsample of the classes.
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_FASHION_MNIST_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"
#include "worker/engine/random.h"

namespace optbench::engine {

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr char kDebianFashionMnistPath[] = "/usr/share/datasets/fashion-mnist";
inline constexpr int64_t kFashionMnistClasses = 10;

// One split as stored: `rows` images of height x width unsigned bytes, row-major, and labels.
struct RawImages {
  int64_t rows = 0;
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;  // rows · height · width.
  std::vector<int32_t> labels;  // rows, each in [0, 10).
};
struct RawImageSplits {
  RawImages train, test;
};

// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte from directory `dir`, each as <name>.gz if present, else <name>.
// InvalidArgument naming the file for: a missing file (names the .gz), any ReadIdx error, images
// that are not 3-D or labels that are not 1-D, image and label counts that differ, a label >= 10,
// test images of another size than the train images.
absl::StatusOr<RawImageSplits> LoadFashionMnistRaw(const std::string& dir);

// Image counts and size from the four headers only (for memory estimates). Errors as above for
// what it reads.
struct FashionMnistFileShape {
  int64_t train_rows = 0;
  int64_t test_rows = 0;
  int64_t pixels = 0;
};
absl::StatusOr<FashionMnistFileShape> ReadFashionMnistShape(const std::string& dir);

struct FashionMnistOptions {
  std::string path = kDebianFashionMnistPath;
  bool standardize = true;
  double zipf = 0;        // 0 = every training image; > 0: see SubsampleTrain.
  int64_t max_train = 0;  // 0 = no cap.
  uint64_t data_seed = 0;
};

// The training rows kept, ascending (file order). With zipf = a > 0, class k keeps
// ceil(m (k + 1)^-a) of its images (m = the smallest class count; class 0 is the most frequent),
// a uniform random subset drawn per class in class order from `rng`. Then, when max_train > 0
// and more rows remain, a uniform random subset of max_train of them.
std::vector<int64_t> SubsampleTrain(const std::vector<int32_t>& labels, int64_t num_classes,
                                    double zipf, int64_t max_train, Rng* rng);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Features from raw pixels: p / 255 per pixel; with `standardize`, every column with a non-zero
// training standard deviation becomes (x - mean) / std, the mean and the unbiased (n - 1)
// standard deviation taken over `train` and applied to `test` too (paper 1's safe_normalize);
// constant columns are left as they are. Precondition: train has >= 2 rows when standardizing.
void PixelsToFeatures(bool standardize, Matrix* train, Matrix* test);

// Loads Fashion-MNIST: the kept training rows (SubsampleTrain with Rng(data_seed)) and the whole
// test split, features by PixelsToFeatures, 784 features per row in pixel order. Errors as
// LoadFashionMnistRaw. Throws std::bad_alloc if the data does not fit.
absl::StatusOr<Dataset> LoadFashionMnist(const FashionMnistOptions& options);

// The registered "fashion_mnist".
const DatasetDef& FashionMnistDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_FASHION_MNIST_H_
