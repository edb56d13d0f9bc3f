// Dense tensor types of the engine: row-major matrices of Real (float32 in the product, float64
// in the reference build; see precision.h). Examples are rows; a 1-D parameter of length n is an
// n x 1 matrix.
#ifndef OPTBENCH_WORKER_ENGINE_TENSOR_H_
#define OPTBENCH_WORKER_ENGINE_TENSOR_H_

#include <Eigen/Core>

#include "worker/engine/precision.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

using Matrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::Matrix<Real, Eigen::Dynamic, 1>;

// Views used at interfaces so that a block of rows of a Matrix (a chunk of examples) binds
// without a copy: rows of a row-major matrix are contiguous, with an outer stride.
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TENSOR_H_
