// Paper 1's "MNIST and barcoded" heavy-tailed vision data set (ALGORITHMS.md 1.1 D4;
// fKunstner/class-imbalance-sgd-adam datasets/barcoded_mnist.py, make_barcoded_mnist with
// with_mnist=True), built on Fashion-MNIST instead of MNIST: the 10 original classes with all
// their images, plus 10 · 2^bits rare classes, each a (barcode, original class) pair with
// `per_class` training images of that class stamped with the barcode.
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_BARCODED_FASHION_MNIST_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_BARCODED_FASHION_MNIST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"
#include "worker/engine/dataset/fashion_mnist.h"

namespace optbench::engine {

struct BarcodedOptions {
  std::string path = kDebianFashionMnistPath;
  int64_t barcode_bits = 10;   // 1..10 barcode pixels; the paper uses 10.
  int64_t per_class = 5;       // Training images per barcoded class.
  int64_t test_per_class = 1;  // Test images per barcoded class.
  int64_t max_original = 0;    // Cap on the original training images kept (0 = all 60,000).
  bool standardize = true;
  uint64_t data_seed = 0;
};

// Sizes without loading pixels: classes = 10 + 10 · 2^bits; rows given the original split sizes.
struct BarcodedShape {
  int64_t num_classes = 0;
  int64_t train_rows = 0;
  int64_t test_rows = 0;
};
BarcodedShape BarcodedShapeFor(const BarcodedOptions& options, int64_t original_train_rows,
                               int64_t original_test_rows);

// Barcode pixel j (0-based, top row, column j) of code b: bit (bits - 1 - j) of b, so that codes
// enumerate the barcodes in itertools.product([0, 1], repeat=bits) order as the reference does.
inline bool BarcodeBit(int64_t code, int64_t bits, int64_t pixel) {
  return ((code >> (bits - 1 - pixel)) & 1) != 0;
}

inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds the data set from the Fashion-MNIST files under options.path.
// Labels: 0..9 are the original classes; barcoded class (code b, original class y) is
// 10 + 10 b + y, b = 0 .. 2^bits - 1 (b = 0, the blank barcode, is a class too, as in the
// reference). Rows: the kept original training images in file order (max_original: a seeded
// uniform subset), then the barcoded classes in label order, per_class rows each. Each barcoded
// image is an image of class y drawn uniformly with replacement from the whole original train
// split (test images: from the test split), with barcode pixels whose bit is 1 set to the largest
// training pixel value (255). Draws: Rng(data_seed), the max_original subset first, then for each
// class in label order its per_class train draws and its test_per_class test draws. The test
// split is the whole original test split followed by the barcoded test images. Features:
// PixelsToFeatures(standardize) over the final train split. Errors as LoadFashionMnistRaw.
// Throws std::bad_alloc if the data does not fit (the paper's size, bits = 10, is 111,200 train
// rows: 349 MB of float32 features).
absl::StatusOr<Dataset> LoadBarcodedFashionMnist(const BarcodedOptions& options);

// The same construction on already loaded images (for tests with small synthetic images).
// Preconditions: options in the catalog's ranges; every class has train and test images.
Dataset MakeBarcoded(const RawImageSplits& raw, const BarcodedOptions& options);

// The registered "barcoded_fashion_mnist".
const DatasetDef& BarcodedFashionMnistDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_BARCODED_FASHION_MNIST_H_
