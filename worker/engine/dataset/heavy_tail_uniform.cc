#include "worker/engine/dataset/heavy_tail_uniform.h"

#include <utility>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {

HeavyTailUniformShape HeavyTailUniformShapeFor(int64_t m) {
  OPTBENCH_CHECK(m >= 1 && m <= 20);
  const int64_t p = int64_t{1} << m;
  return {m * p, (m + 1) * p, p - 1};
}

inline namespace OPTBENCH_ENGINE_PRECISION {

Dataset MakeHeavyTailUniform(int64_t m, uint64_t data_seed) {
  const HeavyTailUniformShape shape = HeavyTailUniformShapeFor(m);
  DataSplit train;
  train.labels.reserve(static_cast<size_t>(shape.num_examples));
  int32_t label = 0;
  for (int64_t level = 0; level < m; ++level) {
    const int64_t classes = int64_t{1} << level;
    const int64_t per_class = int64_t{1} << (m - level);
    for (int64_t k = 0; k < classes; ++k, ++label) {
      train.labels.insert(train.labels.end(), static_cast<size_t>(per_class), label);
    }
  }
  OPTBENCH_CHECK(train.size() == shape.num_examples && label == shape.num_classes);

  train.features.resize(shape.num_examples, shape.num_features);
  Rng rng(data_seed, RngStream::kData);
  Real* x = train.features.data();
  const int64_t total = shape.num_examples * shape.num_features;
  for (int64_t i = 0; i < total; ++i) x[i] = static_cast<Real>(rng.Uniform24());
  return Dataset(shape.num_classes, std::move(train), std::nullopt);
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
