// Paper 1's synthetic "BalancedXImbalancedY" data set, D1 in ALGORITHMS.md 1.1 (Kunstner et al.
// 2024, arXiv 2402.19449; fKunstner/class-imbalance-sgd-adam, datasets/synthetic_dataset.py).
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_HEAVY_TAIL_UNIFORM_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_HEAVY_TAIL_UNIFORM_H_

#include <cstdint>

#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"

namespace optbench::engine {

struct HeavyTailUniformOptions {
  int64_t m = 8;  // Frequency levels (m = 11 is the paper's size).
  uint64_t data_seed = 0;
};

// Sizes of D1 with `m` levels: n = m 2^m samples, d = (m+1) 2^m features, c = 2^m - 1 classes.
struct HeavyTailUniformShape {
  int64_t num_examples;
  int64_t num_features;
  int64_t num_classes;
};
HeavyTailUniformShape HeavyTailUniformShapeFor(int64_t m);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Builds D1: level i = 0..m-1 holds 2^i classes with 2^(m-i) samples each (so every level holds
// 2^m samples and class 0 is the most frequent). Class ids go level by level (level i is classes
// 2^i - 1 .. 2^(i+1) - 2) and rows are laid out class by class. Features X_ij ~ Uniform[0, 1)
// independent of the label, drawn row by row from Rng(data_seed) with 24-bit uniforms (identical
// in float32 and float64). No test split: the paper validates on the training set.
// Precondition: 1 <= m <= 20 (the catalog allows 2..14). Throws std::bad_alloc if X does not fit.
Dataset MakeHeavyTailUniform(int64_t m, uint64_t data_seed);

// The registered "heavy_tail_uniform".
const DatasetDef& HeavyTailUniformDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_HEAVY_TAIL_UNIFORM_H_
