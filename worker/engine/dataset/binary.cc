#include "worker/engine/dataset/binary.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/optimizer/matrix_functions.h"
#include "worker/engine/random.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

int64_t Positives(const TwoGaussiansOptions& o, int64_t n) {
  return std::min(n, static_cast<int64_t>(std::ceil(o.positive_fraction * static_cast<double>(n))));
}

DataSplit DrawGaussians(const TwoGaussiansOptions& o, int64_t n, Rng* rng) {
  const int64_t positives = Positives(o, n);
  const double shift = o.separation / 2 / std::sqrt(static_cast<double>(o.dim));
  DataSplit split;
  split.features.resize(n, o.dim);
  split.labels.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    const bool positive = r >= n - positives;
    split.labels[static_cast<size_t>(r)] = positive ? 1 : 0;
    for (int64_t j = 0; j < o.dim; ++j) {
      split.features(r, j) = static_cast<Real>((positive ? shift : -shift) + rng->Normal());
    }
  }
  return split;
}

// `m` of `rows`, uniformly at random (partial Fisher-Yates), in ascending order; all if m is 0 or
// not smaller.
std::vector<int64_t> UniformSubset(std::vector<int64_t> rows, int64_t m, Rng* rng) {
  const auto size = static_cast<int64_t>(rows.size());
  if (m <= 0 || m >= size) return rows;
  for (int64_t i = 0; i < m; ++i) {
    const auto j = i + static_cast<int64_t>(rng->UniformInt(static_cast<uint64_t>(size - i)));
    std::swap(rows[static_cast<size_t>(i)], rows[static_cast<size_t>(j)]);
  }
  rows.resize(static_cast<size_t>(m));
  std::sort(rows.begin(), rows.end());
  return rows;
}

// The kept images of the two classes as pixels / 255 (double), labels 0 for class_a.
void PickImages(const RawImages& raw, const FashionMnistPcaOptions& o, int64_t max, Rng* rng,
                Eigen::MatrixXd* x, std::vector<int32_t>* labels) {
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < raw.rows; ++r) {
    const int32_t label = raw.labels[static_cast<size_t>(r)];
    if (label == o.class_a || label == o.class_b) rows.push_back(r);
  }
  rows = UniformSubset(std::move(rows), max, rng);
  const int64_t pixels = raw.height * raw.width;
  x->resize(static_cast<Eigen::Index>(rows.size()), pixels);
  labels->resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const uint8_t* src = &raw.pixels[static_cast<size_t>(rows[i] * pixels)];
    for (int64_t j = 0; j < pixels; ++j) (*x)(static_cast<Eigen::Index>(i), j) = src[j] / 255.0;
    (*labels)[i] = raw.labels[static_cast<size_t>(rows[i])] == o.class_a ? 0 : 1;
  }
}

}  // namespace

void ScaleToUnitInterval(Matrix* train, Matrix* test) {
  using RowArray = Eigen::Array<Real, 1, Eigen::Dynamic>;
  const RowArray lo = train->colwise().minCoeff().array();
  const RowArray hi = train->colwise().maxCoeff().array();
  RowArray scale = RowArray::Zero(train->cols());
  for (Eigen::Index j = 0; j < train->cols(); ++j) {
    if (hi(j) > lo(j)) scale(j) = Real{1} / (hi(j) - lo(j));
  }
  train->array() = (train->array().rowwise() - lo).rowwise() * scale;
  if (test != nullptr) test->array() = (test->array().rowwise() - lo).rowwise() * scale;
}

Dataset MakeTwoGaussians(const TwoGaussiansOptions& options) {
  Rng rng(options.data_seed, RngStream::kData);
  DataSplit train = DrawGaussians(options, options.train, &rng);
  std::optional<DataSplit> test;
  if (options.test > 0) test = DrawGaussians(options, options.test, &rng);
  ScaleToUnitInterval(&train.features, test ? &test->features : nullptr);
  return Dataset(2, std::move(train), std::move(test));
}

absl::StatusOr<Dataset> LoadFashionMnistPca(const FashionMnistPcaOptions& o) {
  OPTBENCH_ASSIGN_OR_RETURN(const RawImageSplits raw, LoadFashionMnistRaw(o.path));
  Rng rng(o.data_seed, RngStream::kData);
  Eigen::MatrixXd train_pixels, test_pixels;
  DataSplit train, test;
  PickImages(raw.train, o, o.max_train, &rng, &train_pixels, &train.labels);
  PickImages(raw.test, o, o.max_test, &rng, &test_pixels, &test.labels);
  const int64_t n = train_pixels.rows();
  if (o.dims > train_pixels.cols() || o.dims > n - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset.dims: ", o.dims, " principal components need at most ",
        std::min<int64_t>(train_pixels.cols(), n - 1), " (", train_pixels.cols(), " pixels, ", n,
        " train images of classes ", o.class_a, " and ", o.class_b, ")"));
  }
  if (test.labels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset.path: '", o.path,
                                                   "' has no test images of classes ", o.class_a,
                                                   " and ", o.class_b));
  }
  const Eigen::RowVectorXd mean = train_pixels.colwise().mean();
  train_pixels.rowwise() -= mean;
  test_pixels.rowwise() -= mean;
  const Eigen::MatrixXd cov =
      train_pixels.transpose() * train_pixels / static_cast<double>(std::max<int64_t>(n - 1, 1));
  Matrix vectors;
  Vector values;
  SymmetricEigen(cov.cast<Real>(), &vectors, &values);  // Ascending; float64 inside.
  Eigen::MatrixXd basis(cov.rows(), o.dims);
  for (int64_t c = 0; c < o.dims; ++c) {
    Eigen::VectorXd v = vectors.col(vectors.cols() - 1 - c).cast<double>();
    Eigen::Index top = 0;
    v.cwiseAbs().maxCoeff(&top);
    if (v(top) < 0) v = -v;
    basis.col(c) = v;
  }
  train.features = (train_pixels * basis).cast<Real>();
  test.features = (test_pixels * basis).cast<Real>();
  ScaleToUnitInterval(&train.features, &test.features);
  return Dataset(2, std::move(train), std::move(test));
}

const DatasetDef& TwoGaussiansDefinition() {
  using O = TwoGaussiansOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "two_gaussians",
      "binary: two Gaussians N(-+ separation/2 1/sqrt(dim), I), features scaled to [0, 1] by "
      "the train split's min and max",
      spec::Binding<O>(
          {spec::Bind(&O::dim, "dim", spec::Closed(1, 100000), "number of features"),
           spec::Bind(&O::separation, "separation", spec::Closed(0, 1e3),
                      "distance between the two means (the noise has std 1)"),
           spec::Bind(&O::train, "train", spec::Closed(2, 100000000), "train examples"),
           spec::Bind(&O::test, "test", spec::Closed(0, 100000000),
                      "test examples (same distribution); 0 = no test split"),
           spec::Bind(&O::positive_fraction, "positive_fraction", spec::Closed(0, 1),
                      "share of class 1 in each split, ceil(fraction n)"),
           DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return MakeTwoGaussians(o); },
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        return DataFootprint{o.train, o.test, o.dim, 2, 0};
      },
      [](const O& o) {
        return spec::DataTraits{2, o.dim, o.train};
      },
      [](const O& o) -> absl::Status {
        const int64_t positives = Positives(o, o.train);
        if (positives == 0 || positives == o.train) {
          return absl::InvalidArgumentError(
              absl::StrCat("dataset.positive_fraction: ", o.positive_fraction, " of ", o.train,
                           " train examples leaves class ", positives == 0 ? 1 : 0, " empty"));
        }
        return absl::OkStatus();
      }));
  return *def;
}

const DatasetDef& FashionMnistPcaDefinition() {
  using O = FashionMnistPcaOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "fashion_mnist_pca",
      "binary: two Fashion-MNIST classes (labels 0 and 1) projected to `dims` principal "
      "components fitted on the train split, scaled to [0, 1]",
      spec::Binding<O>(
          {spec::Bind(&O::path, "path", {}, "directory holding the four IDX files (.gz or plain)"),
           spec::Bind(&O::class_a, "class_a", spec::Closed(0, kFashionMnistClasses - 1),
                      "Fashion-MNIST class that becomes label 0"),
           spec::Bind(&O::class_b, "class_b", spec::Closed(0, kFashionMnistClasses - 1),
                      "Fashion-MNIST class that becomes label 1"),
           spec::Bind(&O::dims, "dims", spec::Closed(1, 784), "principal components kept"),
           spec::Bind(&O::max_train, "max_train", spec::Closed(0, 100000000),
                      "keep at most this many train images (seeded uniform subset); 0 = all"),
           spec::Bind(&O::max_test, "max_test", spec::Closed(0, 100000000),
                      "keep at most this many test images (seeded uniform subset); 0 = all"),
           DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return LoadFashionMnistPca(o); },
      // From the IDX headers: at most 2 classes of 10 (6,000 train images each), the raw bytes
      // of both splits held while the features are built.
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        absl::StatusOr<FashionMnistFileShape> s = ReadFashionMnistShape(o.path);
        if (!s.ok()) return s.status();
        const int64_t train_two = s->train_rows / 5 + 1, test_two = s->test_rows / 5 + 1;
        const int64_t train = o.max_train > 0 ? std::min(o.max_train, train_two) : train_two;
        const int64_t test = o.max_test > 0 ? std::min(o.max_test, test_two) : test_two;
        return DataFootprint{train, test, o.dims, 2,
                             (s->train_rows + s->test_rows) * (s->pixels + 1) +
                                 8 * (train + test + s->pixels) * s->pixels};
      },
      [](const O& o) {
        spec::DataTraits traits;
        traits.num_classes = 2;
        traits.num_features = o.dims;
        return traits;
      },
      [](const O& o) -> absl::Status {
        if (o.class_a == o.class_b) {
          return absl::InvalidArgumentError(
              absl::StrCat("dataset.class_b: ", o.class_b,
                           " is class_a too; a binary problem needs two classes"));
        }
        return absl::OkStatus();
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
