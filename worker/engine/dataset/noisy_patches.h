// Paper 3's binary "signal + sparse noise" patches (Li et al., ICLR 2025, "On the optimization
// and generalization of two-layer transformers with sign gradient descent"; ALGORITHMS.md 3.1).
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_NOISY_PATCHES_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_NOISY_PATCHES_H_

#include <cstdint>

#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"

namespace optbench::engine {

struct NoisyPatchesOptions {
  int64_t d = 2000;       // Patch dimension.
  int64_t n_train = 32;   // Balanced: n_train / 2 per class (odd n_train: class 1 gets the extra).
  int64_t n_test = 1000;  // Drawn the same way.
  double mu_norm = 1.0;   // ||mu||; mu = mu_norm e_1.
  int64_t s = 40;         // Non-zero noise coordinates per sample, among the d - 1 off e_1.
  double snr = 1.0;       // ||mu|| / (sigma_p sqrt(s)): sigma_p = mu_norm / (snr sqrt(s)).
  uint64_t data_seed = 0;
};

inline namespace OPTBENCH_ENGINE_PRECISION {

// Each example is X = [x1, x2] (two patches of d, stored as one row of 2d features: x1 then x2)
// with a balanced label y (class 0 is y = -1, class 1 is y = +1); x1 = y mu (the signal
// patch), x2 = xi with `s` coordinates chosen uniformly without replacement among 1..d-1 drawn
// from N(0, sigma_p^2), the rest 0 (the noise patch). Train rows first (classes alternate
// -1, +1, ...), then test rows, from Rng(data_seed). Preconditions: options in the catalog's
// ranges (s <= d - 1). Throws std::bad_alloc if the features do not fit.
Dataset MakeNoisyPatches(const NoisyPatchesOptions& options);

// The registered "noisy_patches".
const DatasetDef& NoisyPatchesDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_NOISY_PATCHES_H_
