// One full-batch forward + backward step of paper 1's CNN (ALGORITHMS.md 1.2) on random 28 x 28
// images: Forward over the chunk, softmax cross-entropy, Backward, in one chunk of all rows (the
// trainer's default chunk_rows, 4,096, holds them). No optimizer step: its cost is per parameter
// and negligible next to the convolutions. The peer is bench/peer/torch_cnn_step.py (the same
// step in PyTorch); run both with bench/run_cnn_step.sh, which reports the ratio.
// Arguments: rows, channels1, channels2, GEMM threads. Wall time (threads).
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/model/cnn.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

constexpr int64_t kClasses = 10;

void BM_CnnFullBatchStep(benchmark::State& state) {
  if (absl::Status s = SetGemmThreads(static_cast<int>(state.range(3))); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  const int64_t rows = state.range(0);
  CnnOptions o;
  o.channels1 = state.range(1);
  o.channels2 = state.range(2);
  o.num_classes = kClasses;
  CnnModel model(o, DenseInit::kKaimingUniform, /*zero_head=*/false, /*seed=*/0);
  Rng rng(1);
  Matrix x(rows, model.num_inputs());
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<Real>(rng.Uniform());
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) labels[i] = static_cast<int32_t>(i % kClasses);
  Matrix logits(rows, kClasses);
  for (auto _ : state) {
    model.ZeroGrad();
    model.Forward(x, logits);
    benchmark::DoNotOptimize(
        SoftmaxCrossEntropy(logits, labels.data(), Real{1} / static_cast<Real>(rows), nullptr));
    model.Backward(logits);
    benchmark::ClobberMemory();
  }
  // Multiply-adds of the convolutions (forward, kernel gradient; conv2 also its input gradient)
  // and the head, 2 flops each, as dense im2col + GEMM computes them (the engine's backward skips
  // the zeros that max pooling leaves, so this is a dense-equivalent rate).
  const CnnShape s = CnnShapeFor(o);
  const double conv1 = 784.0 * 25 * static_cast<double>(o.channels1);
  const double conv2 = static_cast<double>(s.pooled1_height * s.pooled1_width) * 25 *
                       static_cast<double>(o.channels1 * o.channels2);
  const double head = static_cast<double>(s.flat * kClasses);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2 * static_cast<double>(rows) * (2 * conv1 + 3 * conv2 + 3 * head),
      benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::OneK::kIs1000);
}
BENCHMARK(BM_CnnFullBatchStep)
    ->ArgsProduct({{2000}, {8}, {16}, {1, 2}})
    ->ArgsProduct({{2000}, {32}, {64}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0)
    ->UseRealTime();

}  // namespace
}  // namespace optbench::engine
