#include "worker/engine/gemm_backend.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"

#if defined(OPTBENCH_GEMM_OPENBLAS)
// OpenBLAS's own entry points (declared here: Debian puts cblas.h in a per-variant folder).
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
int openblas_get_parallel(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}
#endif

namespace optbench::engine {
namespace {

// Whether the thread count has been chosen (by SetGemmThreads, or 1 by EnsureGemmThreads).
std::atomic<bool> threads_chosen{false};

#if defined(OPTBENCH_GEMM_OPENBLAS)
int Parallel() { return openblas_get_parallel(); }  // 0 serial, 1 pthreads, 2 OpenMP
// The pthread build's limit: "MAX_THREADS=64" in its config string, else the current count.
int BuiltMaxThreads() {
  const std::string config = openblas_get_config();
  const auto at = config.find("MAX_THREADS=");
  if (at == std::string::npos) return std::max(1, openblas_get_num_threads());
  return std::max(1, std::atoi(config.c_str() + at + 12));
}
#endif

}  // namespace

std::string GemmBackendDescription() {
#if defined(OPTBENCH_GEMM_OPENBLAS)
  const char* kinds[] = {"serial", "pthread", "openmp"};
  const int parallel = Parallel();
  std::string version = openblas_get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
  if (version.rfind("OpenBLAS ", 0) == 0) version = version.substr(9);
  version = version.substr(0, version.find(' '));
  return absl::StrCat("openblas ", version, " (", openblas_get_corename(), " kernels, ",
                      parallel >= 0 && parallel <= 2 ? kinds[parallel] : "unknown", ", ",
                      MaxGemmThreads(), " threads at most)");
#else
  return absl::StrCat("eigen ", EIGEN_WORLD_VERSION, ".", EIGEN_MAJOR_VERSION, ".",
                      EIGEN_MINOR_VERSION, " (", Eigen::SimdInstructionSetsInUse(), ")");
#endif
}

int MaxGemmThreads() {
#if defined(OPTBENCH_GEMM_OPENBLAS)
  // Threads only with the pthread variant (Debian's default): the OpenMP one takes its count
  // from the calling thread's OpenMP setting, which a worker's slot threads do not share.
  return Parallel() == 1 ? BuiltMaxThreads() : 1;
#else
  return 1;
#endif
}

absl::Status SetGemmThreads(int threads) {
  if (threads < 1 || threads > MaxGemmThreads()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GEMM threads: ", threads, " is not in 1..", MaxGemmThreads(),
        " for this build's backend, ", GemmBackendDescription(),
        MaxGemmThreads() == 1 ? " (configure with -DOPTBENCH_BLAS=openblas for threads)" : ""));
  }
  threads_chosen = true;
#if defined(OPTBENCH_GEMM_OPENBLAS)
  openblas_set_num_threads(threads);
#endif
  return absl::OkStatus();
}

bool GemmThreadsKeepResults() {
  static const bool keep = [] {
    if (MaxGemmThreads() < 2) return true;
#if defined(OPTBENCH_GEMM_OPENBLAS)
    const int before = openblas_get_num_threads();
    // Deterministic inputs in [-0.5, 0.5) (a linear congruential sequence); Eigen hands the
    // product to sgemm (EIGEN_USE_BLAS).
    Eigen::MatrixXf a(384, 448), b(448, 256);
    uint32_t x = 1;
    for (Eigen::MatrixXf* m : {&a, &b}) {
      for (Eigen::Index i = 0; i < m->size(); ++i) {
        x = x * 1664525u + 1013904223u;
        m->data()[i] = static_cast<float>(x >> 8) / 16777216.0f - 0.5f;
      }
    }
    openblas_set_num_threads(1);
    const Eigen::MatrixXf one = a * b;
    openblas_set_num_threads(2);
    const Eigen::MatrixXf two = a * b;
    openblas_set_num_threads(before);
    return one == two;
#else
    return true;
#endif
  }();
  return keep;
}

void EnsureGemmThreads() {
  if (threads_chosen.exchange(true)) return;
#if defined(OPTBENCH_GEMM_OPENBLAS)
  openblas_set_num_threads(1);
#endif
}

}  // namespace optbench::engine
