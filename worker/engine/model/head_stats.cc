#include "worker/engine/model/head_stats.h"

#include <cmath>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

int FindOutputHead(const std::vector<ParamSlot>& slots) {
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].role == ParamRole::kOutputHead) return static_cast<int>(i);
  }
  return -1;
}

void RowNorms(const Matrix& m, std::vector<double>* norms) {
  norms->resize(static_cast<size_t>(m.rows()));
  for (Eigen::Index k = 0; k < m.rows(); ++k) {
    (*norms)[static_cast<size_t>(k)] = std::sqrt(m.row(k).template cast<double>().squaredNorm());
  }
}

void AddGaussNewtonTrace(const ConstMatrixRef& logits, const ConstMatrixRef& head_input,
                         double* trace, std::vector<double>* row) {
  OPTBENCH_CHECK(logits.rows() == head_input.rows());
  const Eigen::Index c = logits.cols();
  row->resize(static_cast<size_t>(c));
  double* p = row->data();
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    const double h2 = head_input.row(i).template cast<double>().squaredNorm();
    const Real* z = logits.row(i).data();
    double max = z[0];
    for (Eigen::Index k = 1; k < c; ++k) max = std::fmax(max, static_cast<double>(z[k]));
    double sum = 0;
    for (Eigen::Index k = 0; k < c; ++k) sum += p[k] = std::exp(static_cast<double>(z[k]) - max);
    const double inv = 1.0 / sum;
    for (Eigen::Index k = 0; k < c; ++k) {
      const double pk = p[k] * inv;
      trace[k] += pk * (1.0 - pk) * h2;
    }
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
