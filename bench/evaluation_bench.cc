// One evaluation of a split at vocabulary scale: the forward GEMM of a linear head (n x d times
// d x c), then softmax cross-entropy with every per-class statistic (ALGORITHMS.md 6.1) and the
// class-row Gauss-Newton trace (6.2) — what an evaluation step costs beyond the GEMM. The peer is
// the forward GEMM alone, measured in the same run (issue 12's target: the whole evaluation at
// most 1.3x the GEMM). bench/run_evaluation.sh prints the ratios.
//
// Arguments: classes c, head input width d, chunk rows (512; the trainer's chunking bounds memory
// the same way; 128 rows, cache-sized at c = 5,000, measured no better). n = 2,048 rows, one
// GEMM thread.
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "worker/engine/catalog.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/observer/head_stats.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

constexpr Eigen::Index kRows = 2048;

struct Setup {
  Matrix x;
  std::vector<int32_t> labels;
  std::unique_ptr<Model> model;
  Matrix logits;
};

std::unique_ptr<Setup> MakeSetup(int64_t c, int64_t d, Eigen::Index chunk) {
  if (!SetGemmThreads(1).ok()) return nullptr;
  auto s = std::make_unique<Setup>();
  Rng rng(1, RngStream::kData);
  s->x.resize(kRows, d);
  for (Eigen::Index i = 0; i < s->x.size(); ++i) {
    s->x.data()[i] = static_cast<Real>(rng.Uniform24());
  }
  s->labels.resize(kRows);
  for (int32_t& y : s->labels) y = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(c)));
  // Uniform(-1/sqrt(d), 1/sqrt(d)) weights: logits of order 1, a softmax that is not one-hot.
  auto model = MakeModel("linear", {{"init", std::string("uniform")}}, d, c, /*seed=*/0);
  if (!model.ok()) return nullptr;
  s->model = std::move(*model);
  s->logits.resize(chunk, c);
  return s;
}

void SetCounters(benchmark::State& state, int64_t c, int64_t d) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * kRows * static_cast<double>(d) * static_cast<double>(c),
      benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::OneK::kIs1000);
}

// The peer: the forward GEMM (plus bias) alone.
void BM_Forward(benchmark::State& state) {
  const int64_t c = state.range(0);
  const int64_t d = state.range(1);
  const Eigen::Index chunk = state.range(2);
  auto s = MakeSetup(c, d, chunk);
  for (auto _ : state) {
    for (Eigen::Index start = 0; start < kRows; start += chunk) {
      s->model->Forward(s->x.middleRows(start, chunk), s->logits);
      benchmark::DoNotOptimize(s->logits.data());
    }
  }
  SetCounters(state, c, d);
}

// The evaluation: forward, the head statistics' look at each chunk, then the objective with
// per-class statistics; as Trainer::Pass runs it on the train split at an evaluation step.
void BM_Evaluation(benchmark::State& state) {
  const int64_t c = state.range(0);
  const int64_t d = state.range(1);
  const Eigen::Index chunk = state.range(2);
  auto s = MakeSetup(c, d, chunk);
  CrossEntropy objective;
  HeadStatsObserver head_stats(s->model->Params(), c);
  ClassStats stats;
  double loss = 0;
  for (auto _ : state) {
    stats.Reset(c);
    head_stats.BeginTrainPass();
    for (Eigen::Index start = 0; start < kRows; start += chunk) {
      s->model->Forward(s->x.middleRows(start, chunk), s->logits);
      const CurvatureRequest* curvature = head_stats.OnTrainChunk(s->logits, *s->model);
      loss += objective.Evaluate(s->x.middleRows(start, chunk), s->labels.data() + start, s->logits,
                                 Real{0}, &stats, curvature);
    }
    benchmark::DoNotOptimize(loss);
  }
  SetCounters(state, c, d);
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int64_t c : {5000, 50000}) {
    for (int64_t d : {128, 512}) b->Args({c, d, 512});
  }
  b->ArgNames({"c", "d", "chunk"})->Unit(benchmark::kMillisecond)->MinTime(1.0);
}
BENCHMARK(BM_Forward)->Apply(Shapes);
BENCHMARK(BM_Evaluation)->Apply(Shapes);

}  // namespace
}  // namespace optbench::engine
