// Which library runs the engine's matrix products, and on how many threads.
//
// The engine writes its products in Eigen. A build configured with -DOPTBENCH_BLAS=openblas
// (the default where libopenblas-dev is installed) compiles Eigen with EIGEN_USE_BLAS, so every
// large product goes to OpenBLAS's sgemm/dgemm; -DOPTBENCH_BLAS=eigen keeps Eigen's own kernels.
// Small products stay in Eigen either way (Eigen decides by size before it delegates).
//
// Threads: the GEMMs of a job may run on several threads (`optbench-worker --threads_per_slot`,
// `optbench run --threads`); everything else in a step runs on the job's own thread. OpenBLAS
// 0.3.21 splits a product by rows and columns of its result, never along the inner dimension, so
// each result element is summed in the same order on any thread count: results do not depend on
// it (tested at 1 and 2 threads: tests/worker/engine/gemm_backend_test.cc, and end to end in
// tests/integration/cli_test.cc). The count is process-wide, and OpenBLAS runs one
// multi-threaded product at a time: more than one thread is for a worker with one slot (a few
// big jobs), not for many slots.
#ifndef OPTBENCH_WORKER_ENGINE_GEMM_BACKEND_H_
#define OPTBENCH_WORKER_ENGINE_GEMM_BACKEND_H_

#include <string>

#include "absl/status/status.h"

namespace optbench::engine {

// E.g. "openblas 0.3.21 (SkylakeX kernels, pthread, up to 64 threads)" or "eigen 3.4.0 (AVX512)".
std::string GemmBackendDescription();

// The most threads one product may use: 1 for Eigen's kernels (built EIGEN_DONT_PARALLELIZE).
int MaxGemmThreads();

// Sets the threads every later product uses, process-wide. InvalidArgument, naming the value,
// outside 1..MaxGemmThreads(). Call before jobs start: a worker's slots share the setting.
absl::Status SetGemmThreads(int threads);

// One thread unless SetGemmThreads chose otherwise. (OpenBLAS starts with a thread per core,
// which a worker's slots, one core each, would oversubscribe.) The trainer calls it.
void EnsureGemmThreads();

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_GEMM_BACKEND_H_
