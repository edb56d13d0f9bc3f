// One full-batch training step (forward, softmax cross-entropy with per-class statistics,
// backward, Adam update) of softmax regression on paper 1's D1 data, through the engine's own
// Trainer, on 1 or 2 GEMM threads; and the same-run sgemm peak (a 2048^3 product through the
// engine's backend). The peer is bench/peer/torch_linear_step.py (the same step in PyTorch); run
// both with bench/run_linear_step.sh, which reports the ratios. Wall time (threads).
#include <memory>
#include <optional>

#include "benchmark/benchmark.h"
#include "worker/engine/catalog.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/task/train.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

void BM_FullBatchAdamStep(benchmark::State& state) {
  const int64_t m = state.range(0);
  if (absl::Status s = SetGemmThreads(static_cast<int>(state.range(1))); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
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
BENCHMARK(BM_FullBatchAdamStep)
    ->ArgsProduct({{7, 8, 9}, {1, 2}})
    ->ArgNames({"m", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

// The backend's sgemm on a large square product: the peak the step's GEMMs are measured against.
void BM_Sgemm(benchmark::State& state) {
  if (absl::Status s = SetGemmThreads(static_cast<int>(state.range(0))); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  constexpr int kN = 2048;
  const Matrix a = Matrix::Random(kN, kN), b = Matrix::Random(kN, kN);
  Matrix c(kN, kN);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * kN * kN * kN, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::OneK::kIs1000);
}
BENCHMARK(BM_Sgemm)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0)
    ->UseRealTime();

}  // namespace
}  // namespace optbench::engine
