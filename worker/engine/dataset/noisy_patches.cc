#include "worker/engine/dataset/noisy_patches.h"

#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

DataSplit Draw(const NoisyPatchesOptions& o, int64_t n, Rng* rng) {
  const double sigma_p = o.mu_norm / (o.snr * std::sqrt(static_cast<double>(o.s)));
  DataSplit split;
  split.features.setZero(n, 2 * o.d);
  split.labels.reserve(static_cast<size_t>(n));
  // Coordinates 1..d-1 of the noise patch; a partial Fisher-Yates shuffle picks s of them.
  std::vector<int64_t> off_signal(static_cast<size_t>(o.d - 1));
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);  // Balanced: -1, +1, -1, ...
    const double y = label == 1 ? 1.0 : -1.0;
    split.labels.push_back(label);
    Real* x = split.features.row(i).data();
    x[0] = static_cast<Real>(y * o.mu_norm);  // Signal patch y mu, mu = ||mu|| e_1.
    std::iota(off_signal.begin(), off_signal.end(), int64_t{1});
    for (int64_t k = 0; k < o.s; ++k) {
      const auto j = static_cast<size_t>(k) +
                     static_cast<size_t>(rng->UniformInt(static_cast<uint64_t>(o.d - 1 - k)));
      std::swap(off_signal[static_cast<size_t>(k)], off_signal[j]);
      x[o.d + off_signal[static_cast<size_t>(k)]] = static_cast<Real>(sigma_p * rng->Normal());
    }
  }
  return split;
}

}  // namespace

Dataset MakeNoisyPatches(const NoisyPatchesOptions& options) {
  OPTBENCH_CHECK(options.d >= 2 && options.s >= 1 && options.s <= options.d - 1);
  Rng rng(options.data_seed, RngStream::kData);
  DataSplit train = Draw(options, options.n_train, &rng);
  std::optional<DataSplit> test;
  if (options.n_test > 0) test = Draw(options, options.n_test, &rng);
  return Dataset(2, std::move(train), std::move(test));
}

const DatasetDef& NoisyPatchesDefinition() {
  using O = NoisyPatchesOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "noisy_patches",
      "paper 3 (ALGORITHMS 3.1): binary, X = [y mu, xi] as 2d features, mu = mu_norm e_1, "
      "xi with s N(0, sigma_p^2) coordinates off e_1, sigma_p = mu_norm / (snr sqrt(s))",
      spec::Binding<O>(
          {spec::Bind(&O::d, "d", spec::Closed(2, 1000000), "patch dimension"),
           spec::Bind(&O::n_train, "n_train", spec::Closed(2, 10000000),
                      "training examples, balanced over y = -1, +1"),
           spec::Bind(&O::n_test, "n_test", spec::Closed(0, 10000000),
                      "test examples (0 = no test split)"),
           spec::Bind(&O::mu_norm, "mu_norm", spec::LeftOpen(0, 1e6), "signal strength ||mu||"),
           spec::Bind(&O::s, "s", spec::Closed(1, 1000000),
                      "non-zero noise coordinates per example (<= d - 1)"),
           spec::Bind(&O::snr, "snr", spec::LeftOpen(0, 1e6), "||mu|| / (sigma_p sqrt(s))"),
           DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return MakeNoisyPatches(o); },
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        return DataFootprint{o.n_train, o.n_test, 2 * o.d, 2, 0};
      },
      [](const O& o) {
        return spec::DataTraits{2, 2 * o.d, o.n_train};
      },
      [](const O& o) {
        if (o.s >= o.d) {
          return absl::InvalidArgumentError(absl::StrCat(
              "dataset.s: ", o.s, " noise coordinates do not fit in d - 1 = ", o.d - 1));
        }
        return absl::OkStatus();
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
