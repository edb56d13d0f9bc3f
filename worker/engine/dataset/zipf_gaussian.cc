#include "worker/engine/dataset/zipf_gaussian.h"

#include <cmath>
#include <utility>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {

ZipfGaussianOptions ZipfGaussianOptionsFromParams(const ParamMap& params) {
  ZipfGaussianOptions o;
  o.classes = GetInt(params, "classes");
  o.alpha = GetDouble(params, "alpha");
  o.min_samples = GetInt(params, "min_samples");
  o.noise = GetDouble(params, "noise");
  o.test_fraction = GetDouble(params, "test_fraction");
  o.data_seed = static_cast<uint64_t>(GetInt(params, "data_seed"));
  return o;
}

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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
