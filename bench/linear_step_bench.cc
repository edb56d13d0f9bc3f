// One full-batch training step (forward, softmax cross-entropy with per-class statistics,
// backward, Adam update) of softmax regression on paper 1's D1 data, through the engine's own
// Trainer. The peer is bench/peer/torch_linear_step.py (the same step in PyTorch); run both
// with bench/run_linear_step.sh, which reports the ratio.
#include <memory>
#include <optional>

#include "benchmark/benchmark.h"
#include "worker/engine/catalog.h"
#include "worker/engine/task/train.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

void BM_FullBatchAdamStep(benchmark::State& state) {
  const int64_t m = state.range(0);
  auto data = MakeDataset("heavy_tail_uniform", {{"m", m}});
  if (!data.ok()) {
    state.SkipWithError(std::string(data.status().message()).c_str());
    return;
  }
  TrainJob spec;
  spec.dataset = {"heavy_tail_uniform", {{"m", m}}};
  spec.model = {"linear", {}};
  spec.optimizer = {"adam", {{"lr", 1e-3}}};
  spec.trainer.steps = 1'000'000;
  auto validated = Catalog().Validate(spec.ToSpec());
  auto valid = std::make_optional(TrainJob::From(*validated));
  auto model = MakeModel("linear", valid->model.params, data->num_features(), data->num_classes(),
                         /*seed=*/0);
  auto optimizer = MakeOptimizer("adam", valid->optimizer.params);
  Trainer trainer(valid->trainer, 1e-3, &*data, model->get(), optimizer->get(), 0);
  ClassStats stats;
  for (auto _ : state) {
    stats.Reset(data->num_classes());
    benchmark::DoNotOptimize(trainer.FullBatchGradient(&stats));
    (*optimizer)->Step((*model)->Params(), 1e-3);
  }
  const double n = static_cast<double>(data->train().features.rows());
  const double d = static_cast<double>(data->num_features());
  const double c = static_cast<double>(data->num_classes());
  // Two GEMMs of n x d x c each (forward, weight gradient), 2 flops per multiply-add.
  state.counters["GFLOP/s"] =
      benchmark::Counter(4 * n * d * c, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::OneK::kIs1000);
}
BENCHMARK(BM_FullBatchAdamStep)->Arg(7)->Arg(8)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace optbench::engine

BENCHMARK_MAIN();
