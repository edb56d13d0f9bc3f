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
// each result element is summed in the same order on any thread count: with its native AVX-512
// (SkylakeX) kernels results do not depend on it (tested at 1 and 2 threads:
// tests/worker/engine/gemm_backend_test.cc, and end to end in tests/integration/cli_test.cc).
// With OPENBLAS_CORETYPE=Haswell (AVX2 kernels) they do: a 384 x 448 x 256 sgemm differs by up
// to 3e-6 between 1 and 2 threads. GemmThreadsKeepResults() checks which case a process is in,
// and the worker and `optbench run` warn when more threads will change results. The count is
// process-wide, and OpenBLAS runs one
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

// Whether a product on MaxGemmThreads() threads is bit-identical to one on a single thread: one
// 384 x 448 x 256 sgemm run both ways (once per process, at the first call; it sets the thread
// count meanwhile, so call it before jobs start). True for a single-threaded backend. A true
// answer is evidence for that shape, not a proof for every one; false is definitive.
bool GemmThreadsKeepResults();

// One thread unless SetGemmThreads chose otherwise. (OpenBLAS starts with a thread per core,
// which a worker's slots, one core each, would oversubscribe.) The trainer calls it.
void EnsureGemmThreads();

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_GEMM_BACKEND_H_
