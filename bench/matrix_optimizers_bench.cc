// Cost of one Step of each matrix-aware optimizer on one weight matrix, as a multiple of one
// forward + backward pass of a linear layer of the same shape on a batch of 256 (float32 engine,
// single thread). Each timed iteration is one full preconditioner cycle (precondition_frequency =
// 10 steps, after 10 warm-up steps), so periodic eigendecompositions / QR refreshes are amortized
// as in training. Prints Google Benchmark's table, then the ratio table.
//
// Usage: matrix_optimizers_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/engine/catalog.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
namespace {

constexpr int kBatch = 256;
constexpr int kCycle = 10;  // Steps per timed iteration = precondition_frequency.

struct Variant {
  const char* label;
  const char* name;
  spec::ParamMap params;
};

const std::vector<Variant>& Variants() {
  static const auto* variants = new std::vector<Variant>{
      {"adam", "adam", {}},
      {"muon", "muon", {}},
      {"adamuon", "adamuon", {}},
      {"shampoo", "shampoo", {}},
      {"shampoo_paper", "shampoo", {{"variant", std::string("paper")}}},
      {"soap", "soap", {}},
      {"soap_paper", "soap", {{"variant", std::string("paper")}}},
      {"splus", "splus", {}},
      {"spa", "spa", {}},
  };
  return *variants;
}

const std::vector<std::pair<int, int>>& Shapes() {
  static const auto* shapes = new std::vector<std::pair<int, int>>{
      {64, 64},  {256, 256},  {1024, 1024}, {2048, 2048}, {64, 512},
      {512, 64}, {256, 1024}, {1024, 256},  {512, 2048},  {2048, 512},
  };
  return *shapes;
}

Matrix Random(int rows, int cols, unsigned seed) {
  std::srand(seed);
  return Matrix::Random(rows, cols);
}

// One forward + backward of y = x W^T for W rows x cols (out x in), batch x cols input.
void BM_LinearForwardBackward(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0)), cols = static_cast<int>(state.range(1));
  const Matrix w = Random(rows, cols, 1), x = Random(kBatch, cols, 2), dy = Random(kBatch, rows, 3);
  Matrix y(kBatch, rows), dw(rows, cols), dx(kBatch, cols);
  for (auto _ : state) {
    y.noalias() = x * w.transpose();
    dw.noalias() = dy.transpose() * x;
    dx.noalias() = dy * w;
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
}

void BM_OptimizerStep(benchmark::State& state, const Variant& variant) {
  const int rows = static_cast<int>(state.range(0)), cols = static_cast<int>(state.range(1));
  std::unique_ptr<Optimizer> opt = *MakeOptimizer(variant.name, variant.params);
  Matrix value = Random(rows, cols, 4), grad = Random(rows, cols, 5);
  const std::vector<ParamSlot> slots = {{"w", &value, &grad, ParamRole::kHiddenMatrix}};
  for (int t = 0; t < kCycle; ++t) opt->Step(slots, 1e-4);  // Initialization steps.
  for (auto _ : state) {
    for (int t = 0; t < kCycle; ++t) opt->Step(slots, 1e-4);
    benchmark::DoNotOptimize(value.data());
  }
  state.counters["steps"] = kCycle;
}

// Keeps each run's CPU time per iteration (single-threaded code; robust to other load on the
// machine), by run name, for the ratio table.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && run.iterations > 0) {
        seconds_[run.run_name.function_name + "/" + run.run_name.args] =
            run.cpu_accumulated_time / run.iterations;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, double>& seconds() const { return seconds_; }

 private:
  std::map<std::string, double> seconds_;
};

std::string ShapeSuffix(int rows, int cols) {
  return "/" + std::to_string(rows) + "/" + std::to_string(cols);
}

void Register() {
  for (const auto& [rows, cols] : Shapes()) {
    const int iterations = rows * cols >= 1024 * 1024 ? 1 : 0;  // 0 = let the library choose.
    auto* base = benchmark::RegisterBenchmark("linear_fwd_bwd", BM_LinearForwardBackward)
                     ->Args({rows, cols})
                     ->Unit(benchmark::kMicrosecond);
    (void)base;
    for (const Variant& v : Variants()) {
      auto* b = benchmark::RegisterBenchmark(
                    (std::string("step_x10/") + v.label).c_str(),
                    [&v](benchmark::State& state) { BM_OptimizerStep(state, v); })
                    ->Args({rows, cols})
                    ->Unit(benchmark::kMillisecond);
      if (iterations > 0) b->Iterations(iterations);
    }
  }
}

void PrintRatios(const std::map<std::string, double>& seconds) {
  std::printf(
      "\nCPU time of one optimizer step / one linear forward+backward (batch %d), float32, 1 "
      "thread\n",
      kBatch);
  std::printf("%-12s", "shape");
  for (const Variant& v : Variants()) std::printf(" %14s", v.label);
  std::printf("\n");
  for (const auto& [rows, cols] : Shapes()) {
    const std::string suffix = ShapeSuffix(rows, cols);
    auto base = seconds.find("linear_fwd_bwd" + suffix);
    if (base == seconds.end()) continue;
    std::printf("%-12s", (std::to_string(rows) + "x" + std::to_string(cols)).c_str());
    for (const Variant& v : Variants()) {
      auto it = seconds.find(std::string("step_x10/") + v.label + suffix);
      if (it == seconds.end()) {
        std::printf(" %14s", "-");
      } else {
        std::printf(" %14.2f", it->second / kCycle / base->second);
      }
    }
    std::printf("\n");
  }
}

}  // namespace
}  // namespace optbench::engine

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // One thread: the ratios are per core (CPU time), as a worker slot runs them.
  if (!optbench::engine::SetGemmThreads(1).ok()) return 1;
  benchmark::AddCustomContext("gemm", optbench::engine::GemmBackendDescription());
  optbench::engine::Register();
  optbench::engine::RecordingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  optbench::engine::PrintRatios(reporter.seconds());
  benchmark::Shutdown();
  return 0;
}
