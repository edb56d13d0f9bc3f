// Binary classification data sets for paper 4 (ALGORITHMS.md 4.6 [service default]): two
// Gaussians, and two Fashion-MNIST classes projected to k PCA dimensions. Both scale every feature
// to [0, 1] by the train split's per-feature min and max (the test split gets the same map, so
// its values may fall slightly outside), which makes an l_inf radius eps in {0.01, 0.03, 0.1}
// meaningful. Labels are 0 and 1 (the convex_relu task reads them as -1 and +1).
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_BINARY_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_BINARY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"
#include "worker/engine/dataset/fashion_mnist.h"
#include "worker/engine/precision.h"

namespace optbench::engine {

struct TwoGaussiansOptions {
  int64_t dim = 2;
  double separation = 2.0;  // Distance between the two means, in units of the noise's std.
  int64_t train = 1000;
  int64_t test = 1000;
  double positive_fraction = 0.5;  // Share of class 1 in each split (a rare class if small).
  uint64_t data_seed = 0;
};

struct FashionMnistPcaOptions {
  std::string path = kDebianFashionMnistPath;
  int64_t class_a = 0;  // Label 0: T-shirt/top.
  int64_t class_b = 6;  // Label 1: shirt (the hardest pair of the two tops).
  int64_t dims = 50;
  int64_t max_train = 2000;  // 0 = every image of the two classes.
  int64_t max_test = 0;      // 0 = every test image of the two classes.
  uint64_t data_seed = 0;
};

inline namespace OPTBENCH_ENGINE_PRECISION {

// Means -+ (separation / 2) 1 / sqrt(dim) (so every feature carries signal), noise N(0, I);
// ceil(positive_fraction n) examples of class 1 in each split, drawn after class 0, train split
// first, from Rng(data_seed); then the [0, 1] scaling fitted on the train split.
Dataset MakeTwoGaussians(const TwoGaussiansOptions& options);

// The images of classes class_a (label 0) and class_b (label 1): a seeded uniform subset of
// max_train train and max_test test images (file order kept), pixels / 255, centred by the train
// mean and projected on the train covariance's `dims` leading eigenvectors (each signed so that
// its largest-magnitude entry is positive), then scaled to [0, 1]. Nothing about the test split
// enters the fit. Errors as LoadFashionMnistRaw; InvalidArgument "dataset.dims" for dims above
// the pixel count or the kept train images.
absl::StatusOr<Dataset> LoadFashionMnistPca(const FashionMnistPcaOptions& options);

// Maps every feature column of `train` to [0, 1] by its train min and max (a constant column
// becomes 0) and applies the same map to `test` (may be null).
void ScaleToUnitInterval(Matrix* train, Matrix* test);

// The registered "two_gaussians" and "fashion_mnist_pca".
const DatasetDef& TwoGaussiansDefinition();
const DatasetDef& FashionMnistPcaDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_BINARY_H_
