#include "worker/engine/loss/softmax_cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

using RowArray = Eigen::Map<Eigen::Array<Real, Eigen::Dynamic, 1>>;

// Blocks of a row whose maxima are taken with vector instructions; the argmax is then searched
// in the first block holding the row's maximum only.
constexpr Eigen::Index kArgmaxBlock = 256;

struct RowMax {
  Real value;
  Eigen::Index index;  // Lowest index holding it; -1 when no element compares equal (NaN).
};

// The row's maximum and its lowest index. NaN elements never compare greater: a row with a NaN
// gets a NaN loss from the exponentials anyway, and the index stays in range or is -1.
RowMax MaxAndArgmax(const Real* z, Eigen::Index c) {
  Real max = -std::numeric_limits<Real>::infinity();
  Eigen::Index block = 0;
  for (Eigen::Index b = 0; b < c; b += kArgmaxBlock) {
    const Eigen::Index len = std::min(kArgmaxBlock, c - b);
    const Real m = Eigen::Map<const Eigen::Array<Real, Eigen::Dynamic, 1>>(z + b, len).maxCoeff();
    if (m > max) {
      max = m;
      block = b;
    }
  }
  const Real* end = z + std::min(block + kArgmaxBlock, c);
  const Real* at = std::find(z + block, end, max);
  return {max, at == end ? -1 : at - z};
}

// The float64 loops below run over blocks of 8 entries, a shape GCC and Clang vectorize at -O2
// (Eigen does not vectorize Real -> double casts), with the tail one by one.
constexpr Eigen::Index kLanes = 8;

// sum_j e[j] in float64: eight interleaved partial sums, combined pairwise (a fixed order, so
// the result does not depend on the compiler).
double SumAsDouble(const Real* e, Eigen::Index c) {
  double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  Eigen::Index j = 0;
  for (; j + kLanes <= c; j += kLanes) {
    for (Eigen::Index k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(e[j + k]);
  }
  double sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; j < c; ++j) sum += static_cast<double>(e[j]);
  return sum;
}

// out[j] += e[j] * scale in float64.
void AddScaled(const Real* __restrict e, double scale, double* __restrict out, Eigen::Index c) {
  Eigen::Index j = 0;
  for (; j + kLanes <= c; j += kLanes) {
    for (Eigen::Index k = 0; k < kLanes; ++k) out[j + k] += static_cast<double>(e[j + k]) * scale;
  }
  for (; j < c; ++j) out[j] += static_cast<double>(e[j]) * scale;
}

// out[j] += weight * p_j (1 - p_j) with p_j = e[j] * inv_sum, in float64.
void AddWeightedVariance(const Real* __restrict e, double inv_sum, double weight,
                         double* __restrict out, Eigen::Index c) {
  Eigen::Index j = 0;
  for (; j + kLanes <= c; j += kLanes) {
    for (Eigen::Index k = 0; k < kLanes; ++k) {
      const double p = static_cast<double>(e[j + k]) * inv_sum;
      out[j + k] += weight * (p * (1.0 - p));
    }
  }
  for (; j < c; ++j) {
    const double p = static_cast<double>(e[j]) * inv_sum;
    out[j] += weight * (p * (1.0 - p));
  }
}

}  // namespace

double SoftmaxCrossEntropy(MatrixRef logits, const int32_t* labels, Real grad_scale,
                           ClassStats* stats, const CurvatureRequest* curvature) {
  const Eigen::Index rows = logits.rows();
  const Eigen::Index c = logits.cols();
  OPTBENCH_CHECK(c >= 1 && logits.innerStride() == 1);
  OPTBENCH_CHECK(stats == nullptr || static_cast<Eigen::Index>(stats->count.size()) == c);
  OPTBENCH_CHECK(curvature == nullptr ||
                 (curvature->row_weights != nullptr && curvature->sums != nullptr));
  double total = 0;
  for (Eigen::Index i = 0; i < rows; ++i) {
    Real* z = &logits(i, 0);
    RowArray row(z, c);
    const int32_t y = labels[i];
    OPTBENCH_CHECK(y >= 0 && y < c);
    const RowMax max = MaxAndArgmax(z, c);
    const double shifted_true = static_cast<double>(z[y]) - static_cast<double>(max.value);
    // exp(z - max) <= 1 cannot overflow; the exponentials in Real, their sum in float64.
    row = (row - max.value).exp();
    const double sum = SumAsDouble(z, c);
    const double loss = std::log(sum) - shifted_true;
    total += loss;
    const double inv_sum = 1.0 / sum;
    if (stats != nullptr) {
      ++stats->count[y];
      stats->loss_sum[y] += loss;
      stats->correct[y] += max.index == y ? 1 : 0;
      stats->p_true_sum[y] += static_cast<double>(z[y]) * inv_sum;
      AddScaled(z, inv_sum, stats->p_mass.data(), c);
    }
    if (curvature != nullptr) {
      AddWeightedVariance(z, inv_sum, curvature->row_weights[i], curvature->sums, c);
    }
    row *= static_cast<Real>(inv_sum) * grad_scale;
    z[y] -= grad_scale;
  }
  return total;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
