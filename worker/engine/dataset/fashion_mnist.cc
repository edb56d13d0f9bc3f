#include "worker/engine/dataset/fashion_mnist.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "worker/engine/dataset/idx.h"

namespace optbench::engine {
namespace {

// <dir>/<name>.gz if it exists, else <dir>/<name> if that exists, else the .gz path (so the
// error names the file the package installs).
std::string Resolve(const std::string& dir, const char* name) {
  const std::filesystem::path base = std::filesystem::path(dir) / name;
  const std::string gz = base.string() + ".gz";
  std::error_code ec;
  if (std::filesystem::exists(gz, ec)) return gz;
  if (std::filesystem::exists(base, ec)) return base.string();
  return gz;
}

struct SplitFiles {
  std::string images, labels;
};
SplitFiles Files(const std::string& dir, bool train) {
  return {Resolve(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"),
          Resolve(dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte")};
}

absl::Status CheckShapes(const SplitFiles& files, const IdxArray& images, const IdxArray& labels) {
  if (images.dims.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(files.images, ": expected 3-D images, got ",
                                                   images.dims.size(), " dimensions"));
  }
  if (labels.dims.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(files.labels, ": expected 1-D labels, got ",
                                                   labels.dims.size(), " dimensions"));
  }
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(files.labels, ": ", labels.dims[0],
                                                   " labels for the ", images.dims[0],
                                                   " images of ", files.images));
  }
  return absl::OkStatus();
}

absl::StatusOr<RawImages> LoadSplit(const SplitFiles& files) {
  OPTBENCH_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(files.images));
  OPTBENCH_ASSIGN_OR_RETURN(const IdxArray labels, ReadIdx(files.labels));
  OPTBENCH_RETURN_IF_ERROR(CheckShapes(files, images, labels));
  RawImages raw;
  raw.rows = images.dims[0];
  raw.height = images.dims[1];
  raw.width = images.dims[2];
  raw.pixels = std::move(images.data);
  raw.labels.resize(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kFashionMnistClasses) {
      return absl::InvalidArgumentError(
          absl::StrCat(files.labels, ": label ", labels.data[i], " at index ", i,
                       " is out of range (allowed 0..", kFashionMnistClasses - 1, ")"));
    }
    raw.labels[i] = labels.data[i];
  }
  return raw;
}

}  // namespace

absl::StatusOr<RawImageSplits> LoadFashionMnistRaw(const std::string& dir) {
  RawImageSplits raw;
  OPTBENCH_ASSIGN_OR_RETURN(raw.train, LoadSplit(Files(dir, true)));
  const SplitFiles test_files = Files(dir, false);
  OPTBENCH_ASSIGN_OR_RETURN(raw.test, LoadSplit(test_files));
  if (raw.test.height != raw.train.height || raw.test.width != raw.train.width) {
    return absl::InvalidArgumentError(
        absl::StrCat(test_files.images, ": images are ", raw.test.height, " x ", raw.test.width,
                     ", the training images ", raw.train.height, " x ", raw.train.width));
  }
  if (raw.train.rows < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(Files(dir, true).images, ": fewer than 2 training images"));
  }
  return raw;
}

absl::StatusOr<FashionMnistFileShape> ReadFashionMnistShape(const std::string& dir) {
  FashionMnistFileShape shape;
  for (bool train : {true, false}) {
    const SplitFiles files = Files(dir, train);
    OPTBENCH_ASSIGN_OR_RETURN(const IdxArray images, ReadIdxHeader(files.images));
    OPTBENCH_ASSIGN_OR_RETURN(const IdxArray labels, ReadIdxHeader(files.labels));
    OPTBENCH_RETURN_IF_ERROR(CheckShapes(files, images, labels));
    (train ? shape.train_rows : shape.test_rows) = images.dims[0];
    shape.pixels = images.dims[1] * images.dims[2];
  }
  return shape;
}

namespace {

// A uniform random subset of `count` of `items` (partial Fisher–Yates), in place: the first
// `count` entries afterwards.
void ChooseSubset(std::vector<int64_t>* items, int64_t count, Rng* rng) {
  const size_t n = items->size();
  for (size_t i = 0; i < static_cast<size_t>(count) && i + 1 < n; ++i) {
    std::swap((*items)[i], (*items)[i + rng->UniformInt(n - i)]);
  }
  items->resize(static_cast<size_t>(count));
}

}  // namespace

std::vector<int64_t> SubsampleTrain(const std::vector<int32_t>& labels, int64_t num_classes,
                                    double zipf, int64_t max_train, Rng* rng) {
  std::vector<int64_t> kept;
  if (zipf > 0) {
    std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
    for (size_t i = 0; i < labels.size(); ++i) {
      by_class[static_cast<size_t>(labels[i])].push_back(static_cast<int64_t>(i));
    }
    int64_t smallest = static_cast<int64_t>(labels.size());
    for (const auto& rows : by_class) smallest = std::min<int64_t>(smallest, rows.size());
    for (int64_t k = 0; k < num_classes; ++k) {
      std::vector<int64_t>& rows = by_class[static_cast<size_t>(k)];
      const double share = std::pow(static_cast<double>(k + 1), -zipf);
      const int64_t keep =
          std::min<int64_t>(static_cast<int64_t>(rows.size()),
                            static_cast<int64_t>(std::ceil(static_cast<double>(smallest) * share)));
      ChooseSubset(&rows, keep, rng);
      kept.insert(kept.end(), rows.begin(), rows.end());
    }
  } else {
    kept.resize(labels.size());
    std::iota(kept.begin(), kept.end(), int64_t{0});
  }
  if (max_train > 0 && static_cast<int64_t>(kept.size()) > max_train) {
    ChooseSubset(&kept, max_train, rng);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

inline namespace OPTBENCH_ENGINE_PRECISION {

void PixelsToFeatures(bool standardize, Matrix* train, Matrix* test) {
  *train *= Real{1} / Real{255};
  if (test != nullptr) *test *= Real{1} / Real{255};
  if (!standardize) return;
  const Eigen::Index n = train->rows();
  OPTBENCH_CHECK(n >= 2);
  const Eigen::MatrixXd x = train->cast<double>();
  const Eigen::RowVectorXd mean = x.colwise().mean();
  const Eigen::RowVectorXd var =
      (x.rowwise() - mean).array().square().colwise().sum() / static_cast<double>(n - 1);
  // Per pixel: (x - mean) / sd, applied row by row in memory order (a column of the row-major
  // matrix is a strided walk). A constant column is detected exactly (its computed variance can
  // be a rounding residue) and left as it is: shift 0, scale 1.
  using RowArray = Eigen::Array<Real, 1, Eigen::Dynamic>;
  const RowArray lo = train->colwise().minCoeff().array();
  const RowArray hi = train->colwise().maxCoeff().array();
  RowArray shift = RowArray::Zero(train->cols()), scale = RowArray::Ones(train->cols());
  for (Eigen::Index j = 0; j < train->cols(); ++j) {
    if (lo(j) == hi(j)) continue;
    shift(j) = static_cast<Real>(mean(j));
    scale(j) = static_cast<Real>(1.0 / std::sqrt(var(j)));
  }
  train->array() = (train->array().rowwise() - shift).rowwise() * scale;
  if (test != nullptr) test->array() = (test->array().rowwise() - shift).rowwise() * scale;
}

absl::StatusOr<Dataset> LoadFashionMnist(const FashionMnistOptions& options) {
  OPTBENCH_ASSIGN_OR_RETURN(const RawImageSplits raw, LoadFashionMnistRaw(options.path));
  Rng rng(options.data_seed, RngStream::kData);
  const std::vector<int64_t> kept =
      SubsampleTrain(raw.train.labels, kFashionMnistClasses, options.zipf, options.max_train, &rng);
  const int64_t pixels = raw.train.height * raw.train.width;
  DataSplit train;
  train.features.resize(static_cast<Eigen::Index>(kept.size()), pixels);
  train.labels.resize(kept.size());
  for (size_t r = 0; r < kept.size(); ++r) {
    const uint8_t* src = &raw.train.pixels[static_cast<size_t>(kept[r] * pixels)];
    for (int64_t j = 0; j < pixels; ++j) train.features(r, j) = static_cast<Real>(src[j]);
    train.labels[r] = raw.train.labels[static_cast<size_t>(kept[r])];
  }
  DataSplit test;
  test.features.resize(raw.test.rows, pixels);
  for (int64_t r = 0; r < raw.test.rows; ++r) {
    for (int64_t j = 0; j < pixels; ++j) {
      test.features(r, j) = static_cast<Real>(raw.test.pixels[static_cast<size_t>(r * pixels + j)]);
    }
  }
  test.labels = raw.test.labels;
  if (options.standardize && train.size() < 2) {
    return absl::InvalidArgumentError(
        "dataset.max_train: standardize needs at least 2 training images");
  }
  PixelsToFeatures(options.standardize, &train.features, &test.features);
  return Dataset(kFashionMnistClasses, std::move(train), std::move(test));
}

const DatasetDef& FashionMnistDefinition() {
  using O = FashionMnistOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "fashion_mnist",
      "Fashion-MNIST from its IDX files (Debian package dataset-fashion-mnist): 60,000 "
      "train and 10,000 test 28x28 images, 10 classes, 784 features in pixel order",
      spec::Binding<O>(
          {spec::Bind(&O::path, "path", {}, "directory holding the four IDX files (.gz or plain)"),
           spec::Bind(&O::standardize, "standardize",
                      "standardize each pixel by the train mean and std (pixels with std 0 are "
                      "left as they are); false = pixel / 255"),
           spec::Bind(&O::zipf, "zipf", spec::Closed(0, 10),
                      "heavy-tailed subsample: class k keeps ceil(m (k+1)^-zipf) of its train "
                      "images (m = smallest class count), seeded; 0 = off"),
           spec::Bind(&O::max_train, "max_train", spec::Closed(0, 100000000),
                      "keep at most this many train images (seeded uniform subset); 0 = all"),
           DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return LoadFashionMnist(o); },
      // From the IDX headers; the raw bytes of both splits are held while the features are
      // built. The zipf subsample is not counted (an upper bound).
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        absl::StatusOr<FashionMnistFileShape> s = ReadFashionMnistShape(o.path);
        if (!s.ok()) return s.status();
        const int64_t train =
            o.max_train > 0 ? std::min(o.max_train, s->train_rows) : s->train_rows;
        return DataFootprint{train, s->test_rows, s->pixels, kFashionMnistClasses,
                             (s->train_rows + s->test_rows) * (s->pixels + 1)};
      },
      [](const O&) {
        spec::DataTraits traits;
        traits.num_classes = kFashionMnistClasses;
        return traits;
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
