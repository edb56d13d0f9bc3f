#include "worker/engine/loss/softmax_cross_entropy.h"

#include <cmath>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

double SoftmaxCrossEntropy(MatrixRef logits, const int32_t* labels, Real grad_scale,
                           ClassStats* stats) {
  const Eigen::Index rows = logits.rows();
  const Eigen::Index c = logits.cols();
  OPTBENCH_CHECK(c >= 1 && logits.innerStride() == 1);
  OPTBENCH_CHECK(stats == nullptr || static_cast<Eigen::Index>(stats->count.size()) == c);
  double total = 0;
  for (Eigen::Index i = 0; i < rows; ++i) {
    Real* z = &logits(i, 0);
    const int32_t y = labels[i];
    OPTBENCH_CHECK(y >= 0 && y < c);
    // Argmax with the lowest index on ties; a NaN never compares greater, so the index stays
    // valid and the NaN surfaces in the loss instead.
    Eigen::Index argmax = 0;
    Real max = z[0];
    for (Eigen::Index j = 1; j < c; ++j) {
      if (z[j] > max) {
        max = z[j];
        argmax = j;
      }
    }
    const double shifted_true = static_cast<double>(z[y]) - static_cast<double>(max);
    // exp(z - max) <= 1 cannot overflow; the vectorized exp runs in Real, the sum in double.
    Eigen::Map<Eigen::Array<Real, 1, Eigen::Dynamic>> row(z, c);
    row = (row - max).exp();
    double sum = 0;
    for (Eigen::Index j = 0; j < c; ++j) sum += static_cast<double>(z[j]);
    const double loss = std::log(sum) - shifted_true;
    total += loss;
    const double inv_sum = 1.0 / sum;
    if (stats != nullptr) {
      ++stats->count[y];
      stats->loss_sum[y] += loss;
      stats->correct[y] += argmax == y ? 1 : 0;
      stats->p_true_sum[y] += static_cast<double>(z[y]) * inv_sum;
      double* p_mass = stats->p_mass.data();
      for (Eigen::Index j = 0; j < c; ++j) p_mass[j] += static_cast<double>(z[j]) * inv_sum;
    }
    row *= static_cast<Real>(inv_sum) * grad_scale;
    z[y] -= grad_scale;
  }
  return total;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
