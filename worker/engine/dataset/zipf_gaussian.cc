#include "worker/engine/dataset/zipf_gaussian.h"

#include <cmath>
#include <utility>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {

std::vector<int64_t> ZipfTrainCounts(const ZipfGaussianOptions& options) {
  OPTBENCH_CHECK(options.classes >= 1 && options.min_samples >= 1);
  std::vector<int64_t> counts(static_cast<size_t>(options.classes));
  for (int64_t k = 1; k <= options.classes; ++k) {
    const double ratio = static_cast<double>(options.classes) / static_cast<double>(k);
    counts[static_cast<size_t>(k - 1)] = static_cast<int64_t>(
        std::ceil(static_cast<double>(options.min_samples) * std::pow(ratio, options.alpha)));
  }
  return counts;
}

std::vector<int64_t> ZipfTestCounts(const ZipfGaussianOptions& options) {
  if (options.test_fraction <= 0) return {};
  std::vector<int64_t> counts = ZipfTrainCounts(options);
  for (int64_t& n : counts) {
    n = static_cast<int64_t>(std::ceil(options.test_fraction * static_cast<double>(n)));
  }
  return counts;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

DataSplit Draw(const std::vector<int64_t>& counts, double noise, Rng* rng) {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  const int64_t d = static_cast<int64_t>(counts.size());
  DataSplit split;
  split.features.resize(n, d);
  split.labels.reserve(static_cast<size_t>(n));
  int64_t row = 0;
  for (int64_t k = 0; k < d; ++k) {
    for (int64_t i = 0; i < counts[static_cast<size_t>(k)]; ++i, ++row) {
      split.labels.push_back(static_cast<int32_t>(k));
      Real* x = split.features.row(row).data();
      for (int64_t j = 0; j < d; ++j) {
        x[j] = static_cast<Real>((j == k ? 1.0 : 0.0) + noise * rng->Normal());
      }
    }
  }
  return split;
}

}  // namespace

Dataset MakeZipfGaussian(const ZipfGaussianOptions& options) {
  OPTBENCH_CHECK(options.classes <= INT32_MAX);
  Rng rng(options.data_seed, RngStream::kData);
  DataSplit train = Draw(ZipfTrainCounts(options), options.noise, &rng);
  std::optional<DataSplit> test;
  if (options.test_fraction > 0) test = Draw(ZipfTestCounts(options), options.noise, &rng);
  return Dataset(options.classes, std::move(train), std::move(test));
}

namespace {

int64_t Total(const std::vector<int64_t>& counts) {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

}  // namespace

const DatasetDef& ZipfGaussianDefinition() {
  using O = ZipfGaussianOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "zipf_gaussian",
      "paper 1 D2: n_k = ceil(min_samples (classes/k)^alpha) samples of class k, "
      "x = e_y + noise N(0, I) in R^classes",
      spec::Binding<O>(
          {spec::Bind(&O::classes, "classes", spec::Closed(2, 100000), "number of classes"),
           spec::Bind(&O::alpha, "alpha", spec::Closed(0, 10),
                      "power-law exponent of class frequencies"),
           spec::Bind(&O::min_samples, "min_samples", spec::Closed(1, 1000000),
                      "samples of the rarest class"),
           spec::Bind(&O::noise, "noise", spec::Closed(0, 1e3),
                      "standard deviation of the Gaussian noise"),
           spec::Bind(&O::test_fraction, "test_fraction", spec::Closed(0, 10),
                      "test split drawn from the same distribution, ceil(fraction n_k) per "
                      "class; 0 = no test split"),
           DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return MakeZipfGaussian(o); },
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        return DataFootprint{Total(ZipfTrainCounts(o)), Total(ZipfTestCounts(o)), o.classes,
                             o.classes, 0};
      },
      [](const O& o) {
        return spec::DataTraits{o.classes, o.classes, Total(ZipfTrainCounts(o))};
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
