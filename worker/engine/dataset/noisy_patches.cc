#include "worker/engine/dataset/noisy_patches.h"

#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {

NoisyPatchesOptions NoisyPatchesOptionsFromParams(const ParamMap& params) {
  NoisyPatchesOptions o;
  o.d = GetInt(params, "d");
  o.n_train = GetInt(params, "n_train");
  o.n_test = GetInt(params, "n_test");
  o.mu_norm = GetDouble(params, "mu_norm");
  o.s = GetInt(params, "s");
  o.snr = GetDouble(params, "snr");
  o.data_seed = static_cast<uint64_t>(GetInt(params, "data_seed"));
  return o;
}

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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
