// main() of every benchmark binary: Google Benchmark's, plus the engine's GEMM backend in the
// context it prints ("gemm: openblas 0.3.21 (SkylakeX kernels, ...)"), so every figure says
// which library ran its products. `--gemm_backend` prints just that and exits.
#include <cstdio>
#include <cstring>

#include "benchmark/benchmark.h"
#include "worker/engine/gemm_backend.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--gemm_backend") == 0) {
    std::printf("%s\n", optbench::engine::GemmBackendDescription().c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("gemm", optbench::engine::GemmBackendDescription());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
