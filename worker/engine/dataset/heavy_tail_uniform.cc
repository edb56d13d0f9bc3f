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

const DatasetDef& HeavyTailUniformDefinition() {
  using O = HeavyTailUniformOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "heavy_tail_uniform",
      "paper 1 D1: 2^i classes of 2^(m-i) samples at level i, inputs Uniform[0,1) "
      "independent of the label; n = m 2^m, d = (m+1) 2^m, c = 2^m - 1; test = train",
      spec::Binding<O>({spec::Bind(&O::m, "m", spec::Closed(2, 14),
                                   "number of frequency levels (m = 11 is the paper's size)"),
                        DataSeedField(&O::data_seed)}),
      [](const O& o) -> absl::StatusOr<Dataset> { return MakeHeavyTailUniform(o.m, o.data_seed); },
      [](const O& o) -> absl::StatusOr<DataFootprint> {
        const HeavyTailUniformShape s = HeavyTailUniformShapeFor(o.m);
        return DataFootprint{s.num_examples, 0, s.num_features, s.num_classes, 0};
      },
      [](const O& o) {
        const HeavyTailUniformShape s = HeavyTailUniformShapeFor(o.m);
        return spec::DataTraits{s.num_classes, s.num_features, s.num_examples};
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
