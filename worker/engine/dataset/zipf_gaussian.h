// Paper 1's Gaussian-mixture power-law data set, D2 in ALGORITHMS.md 1.1 (Kunstner et al. 2024;
// fKunstner/class-imbalance-sgd-adam, datasets/classification_mixture.py).
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_ZIPF_GAUSSIAN_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_ZIPF_GAUSSIAN_H_

#include <cstdint>
#include <vector>

#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"

namespace optbench::engine {

struct ZipfGaussianOptions {
  int64_t classes = 100;
  double alpha = 1.0;
  int64_t min_samples = 10;
  double noise = 0.1;
  double test_fraction = 0.0;  // 0 = no test split.
  uint64_t data_seed = 0;
};

// Training examples per class: n_k = ceil(min_samples (classes / k)^alpha) for class id k - 1,
// k = 1..classes (class 0 is the most frequent), computed in double as the reference does.
std::vector<int64_t> ZipfTrainCounts(const ZipfGaussianOptions& options);
// Test examples per class: ceil(test_fraction n_k); empty when test_fraction is 0.
std::vector<int64_t> ZipfTestCounts(const ZipfGaussianOptions& options);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds D2: features in R^classes, x = e_y + noise N(0, I). Rows are laid out class by class;
// the train split is drawn first, then the test split (same distribution, same generator
// Rng(data_seed)), entry by entry in row order. Preconditions: options in the catalog's ranges.
// Throws std::bad_alloc if the features do not fit.
Dataset MakeZipfGaussian(const ZipfGaussianOptions& options);

// The registered "zipf_gaussian".
const DatasetDef& ZipfGaussianDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_ZIPF_GAUSSIAN_H_
