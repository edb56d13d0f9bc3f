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

// An n x 1 parameter (a bias, a gain) as a contiguous 1 x n row, for broadcasting over the rows
// of a batch (`out.rowwise() += AsRow(bias)`): Eigen vectorizes that, while a column of a
// row-major matrix has a run-time stride and makes the broadcast a scalar loop.
using RowMap = Eigen::Map<Eigen::Matrix<Real, 1, Eigen::Dynamic>>;
using ConstRowMap = Eigen::Map<const Eigen::Matrix<Real, 1, Eigen::Dynamic>>;
inline RowMap AsRow(Matrix& column) { return RowMap(column.data(), column.size()); }
inline ConstRowMap AsRow(const Matrix& column) { return ConstRowMap(column.data(), column.size()); }

// column += the sum of x's rows (a bias gradient), accumulated row after row from row 0: the
// order of a scalar loop down each column, vectorized across columns and read in memory order.
// (`colwise().sum()` on a row-major matrix walks each column with a stride, and Eigen's
// vectorized form of it sums in another order.)
inline void AddColumnSums(const ConstMatrixRef& x, Matrix& column) {
  if (x.rows() == 0) return;
  Eigen::Matrix<Real, 1, Eigen::Dynamic> sums = x.row(0);
  for (Eigen::Index r = 1; r < x.rows(); ++r) sums += x.row(r);
  AsRow(column) += sums;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TENSOR_H_
