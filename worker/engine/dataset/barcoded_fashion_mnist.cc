#include "worker/engine/dataset/barcoded_fashion_mnist.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "worker/engine/random.h"

namespace optbench::engine {

BarcodedShape BarcodedShapeFor(const BarcodedOptions& options, int64_t original_train_rows,
                               int64_t original_test_rows) {
  BarcodedShape s;
  const int64_t barcoded = kFashionMnistClasses << options.barcode_bits;
  s.num_classes = kFashionMnistClasses + barcoded;
  const int64_t originals = options.max_original > 0
                                ? std::min(options.max_original, original_train_rows)
                                : original_train_rows;
  s.train_rows = originals + barcoded * options.per_class;
  s.test_rows = original_test_rows + barcoded * options.test_per_class;
  return s;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// Indices of each class's images in `split`.
std::vector<std::vector<int64_t>> ByClass(const RawImages& split) {
  std::vector<std::vector<int64_t>> by_class(kFashionMnistClasses);
  for (size_t i = 0; i < split.labels.size(); ++i) {
    by_class[static_cast<size_t>(split.labels[i])].push_back(static_cast<int64_t>(i));
  }
  for (const auto& rows : by_class) OPTBENCH_CHECK(!rows.empty());
  return by_class;
}

void CopyImage(const RawImages& split, int64_t index, Matrix* features, Eigen::Index row) {
  const int64_t pixels = split.height * split.width;
  const uint8_t* src = &split.pixels[static_cast<size_t>(index * pixels)];
  for (int64_t j = 0; j < pixels; ++j) (*features)(row, j) = static_cast<Real>(src[j]);
}

}  // namespace

Dataset MakeBarcoded(const RawImageSplits& raw, const BarcodedOptions& options) {
  OPTBENCH_CHECK(options.barcode_bits >= 1 && options.barcode_bits <= raw.train.width);
  const BarcodedShape shape = BarcodedShapeFor(options, raw.train.rows, raw.test.rows);
  const int64_t pixels = raw.train.height * raw.train.width;
  const Real max_value =
      static_cast<Real>(*std::max_element(raw.train.pixels.begin(), raw.train.pixels.end()));
  Rng rng(options.data_seed, RngStream::kData);
  const std::vector<int64_t> originals =
      SubsampleTrain(raw.train.labels, kFashionMnistClasses, 0.0, options.max_original, &rng);
  const auto train_by_class = ByClass(raw.train);
  const auto test_by_class = ByClass(raw.test);

  DataSplit train, test;
  train.features.resize(shape.train_rows, pixels);
  train.labels.reserve(static_cast<size_t>(shape.train_rows));
  test.features.resize(shape.test_rows, pixels);
  test.labels.reserve(static_cast<size_t>(shape.test_rows));
  Eigen::Index train_row = 0, test_row = 0;
  for (int64_t index : originals) {
    CopyImage(raw.train, index, &train.features, train_row++);
    train.labels.push_back(raw.train.labels[static_cast<size_t>(index)]);
  }
  for (int64_t r = 0; r < raw.test.rows; ++r) {
    CopyImage(raw.test, r, &test.features, test_row++);
    test.labels.push_back(raw.test.labels[static_cast<size_t>(r)]);
  }
  const int64_t codes = int64_t{1} << options.barcode_bits;
  auto stamp = [&](Matrix* features, Eigen::Index row, int64_t code) {
    for (int64_t j = 0; j < options.barcode_bits; ++j) {
      if (BarcodeBit(code, options.barcode_bits, j)) (*features)(row, j) = max_value;
    }
  };
  for (int64_t code = 0; code < codes; ++code) {
    for (int64_t y = 0; y < kFashionMnistClasses; ++y) {
      const int32_t label = static_cast<int32_t>(kFashionMnistClasses + code * 10 + y);
      const auto& train_pool = train_by_class[static_cast<size_t>(y)];
      for (int64_t i = 0; i < options.per_class; ++i) {
        CopyImage(raw.train, train_pool[rng.UniformInt(train_pool.size())], &train.features,
                  train_row);
        stamp(&train.features, train_row++, code);
        train.labels.push_back(label);
      }
      const auto& test_pool = test_by_class[static_cast<size_t>(y)];
      for (int64_t i = 0; i < options.test_per_class; ++i) {
        CopyImage(raw.test, test_pool[rng.UniformInt(test_pool.size())], &test.features, test_row);
        stamp(&test.features, test_row++, code);
        test.labels.push_back(label);
      }
    }
  }
  OPTBENCH_CHECK(train_row == shape.train_rows && test_row == shape.test_rows);
  PixelsToFeatures(options.standardize, &train.features, &test.features);
  return Dataset(shape.num_classes, std::move(train), std::move(test));
}

absl::StatusOr<Dataset> LoadBarcodedFashionMnist(const BarcodedOptions& options) {
  OPTBENCH_ASSIGN_OR_RETURN(const RawImageSplits raw, LoadFashionMnistRaw(options.path));
  if (raw.train.width < options.barcode_bits) {
    return absl::InvalidArgumentError(absl::StrCat("dataset.barcode_bits: ", options.barcode_bits,
                                                   " barcode pixels do not fit the ",
                                                   raw.train.width, "-pixel top row"));
  }
  for (const RawImages* split : {&raw.train, &raw.test}) {
    std::vector<int64_t> counts(kFashionMnistClasses, 0);
    for (int32_t label : split->labels) ++counts[static_cast<size_t>(label)];
    for (int64_t k = 0; k < kFashionMnistClasses; ++k) {
      if (counts[static_cast<size_t>(k)] == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(options.path, ": the ", split == &raw.train ? "train" : "test",
                         " split has no image of class ", k, " to barcode"));
      }
    }
  }
  return MakeBarcoded(raw, options);
}

const DatasetDef& BarcodedFashionMnistDefinition() {
  using O = BarcodedOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "barcoded_fashion_mnist",
      "paper 1 D4 on Fashion-MNIST: the 10 classes plus 10 * 2^barcode_bits rare "
      "classes (a barcode on the top row stamped on per_class images of one class)",
      spec::Binding<O>(
          {spec::Bind(&O::path, "path", {},
                      "directory holding the four Fashion-MNIST IDX files (.gz or plain)"),
           spec::Bind(&O::barcode_bits, "barcode_bits", spec::Closed(1, 10),
                      "barcode pixels (paper: 10, i.e. 10,240 barcoded classes, 349 MB float32)"),
           spec::Bind(&O::per_class, "per_class", spec::Closed(1, 1000),
                      "train images per barcoded class (paper: 5)"),
           spec::Bind(&O::test_per_class, "test_per_class", spec::Closed(1, 1000),
                      "test images per barcoded class (paper: 1)"),
           spec::Bind(&O::max_original, "max_original", spec::Closed(0, 100000000),
                      "keep at most this many original train images (seeded); 0 = all 60,000"),
           spec::Bind(&O::standardize, "standardize",
                      "standardize each pixel by the train mean and std (paper 1); false = "
                      "pixel / 255"),
           DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return LoadBarcodedFashionMnist(o); },
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        absl::StatusOr<FashionMnistFileShape> s = ReadFashionMnistShape(o.path);
        if (!s.ok()) return s.status();
        const BarcodedShape b = BarcodedShapeFor(o, s->train_rows, s->test_rows);
        return DataFootprint{b.train_rows, b.test_rows, s->pixels, b.num_classes,
                             (s->train_rows + s->test_rows) * (s->pixels + 1)};
      },
      [](const O& o) {
        spec::DataTraits traits;
        traits.num_classes = BarcodedShapeFor(o, 0, 0).num_classes;
        return traits;
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
