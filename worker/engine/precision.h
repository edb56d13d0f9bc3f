// The engine's floating-point precision, chosen at compile time. Eigen-free, so Eigen-free
// headers (run_job.h) can place their precision-dependent entry points in the same namespace.
//
// The engine's sources are compiled twice: into optbench_engine (float32, the product) and into
// optbench_engine_f64 (float64, for reference and gradient checks in tests; that target defines
// OPTBENCH_ENGINE_DOUBLE=1 publicly). Every precision-dependent declaration lives in the inline
// namespace OPTBENCH_ENGINE_PRECISION (f32 or f64), so code compiled for one precision that links
// the other library fails to link instead of silently violating the one-definition rule.
#ifndef OPTBENCH_WORKER_ENGINE_PRECISION_H_
#define OPTBENCH_WORKER_ENGINE_PRECISION_H_

#if defined(OPTBENCH_ENGINE_DOUBLE) && OPTBENCH_ENGINE_DOUBLE
#define OPTBENCH_ENGINE_PRECISION f64
#else
#define OPTBENCH_ENGINE_PRECISION f32
#endif

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

#if defined(OPTBENCH_ENGINE_DOUBLE) && OPTBENCH_ENGINE_DOUBLE
using Real = double;
#else
using Real = float;
#endif

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_PRECISION_H_
