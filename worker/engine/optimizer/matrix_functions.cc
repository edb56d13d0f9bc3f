#include "worker/engine/optimizer/matrix_functions.h"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

int fail_next_eigen_attempts = 0;

bool TestHookFails() {
  if (fail_next_eigen_attempts <= 0) return false;
  --fail_next_eigen_attempts;
  return true;
}

#if defined(OPTBENCH_GEMM_OPENBLAS)
// LAPACK's divide-and-conquer symmetric eigensolver, from OpenBLAS (which bundles LAPACK): the
// routine torch.linalg.eigh and numpy.linalg.eigh call, and 3-6x faster than Eigen's QR
// iteration at the factor sizes of paper 2's models.
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda,
                        double* w, double* work, const int* lwork, int* iwork, const int* liwork,
                        int* info);

bool SolveSymmetric(Eigen::MatrixXd* a, Eigen::VectorXd* values) {
  if (a->rows() == 0) {  // Nothing to decompose (LAPACK would reject lda = 0).
    values->resize(0);
    return true;
  }
  // LAPACK's integers are 32-bit: its workspace (1 + 6n + 2n^2 doubles) fits up to n ~ 32,700.
  if (a->rows() > 32000) return false;
  const int n = static_cast<int>(a->rows());
  values->resize(n);
  int info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dsyevd_("V", "L", &n, a->data(), &n, values->data(), &work_size, &lwork, &iwork_size, &liwork,
          &info);  // Workspace query.
  if (info != 0 || !(work_size >= 1 && work_size <= std::numeric_limits<int>::max())) return false;
  lwork = static_cast<int>(work_size);
  liwork = iwork_size;
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(std::max(liwork, 1)));
  dsyevd_("V", "L", &n, a->data(), &n, values->data(), work.data(), &lwork, iwork.data(), &liwork,
          &info);
  return info == 0;
}
#else
bool SolveSymmetric(Eigen::MatrixXd* a, Eigen::VectorXd* values) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(*a, Eigen::ComputeEigenvectors);
  if (solver.info() != Eigen::Success) return false;
  *values = solver.eigenvalues();
  *a = solver.eigenvectors();
  return true;
}
#endif

// a + 1e-30 I (the references' jitter; it only matters when representable) decomposed in
// float64: values ascending, vectors in the columns.
bool Decompose(const Eigen::MatrixXd& a, Eigen::MatrixXd* vectors, Eigen::VectorXd* values) {
  if (TestHookFails()) return false;
  *vectors = a;
  vectors->diagonal().array() += 1e-30;
  if (!SolveSymmetric(vectors, values)) return false;
  return values->allFinite() && vectors->allFinite();
}

}  // namespace

void NewtonSchulz(const Matrix& m_in, int steps, bool schedule, double eps, Matrix* out,
                  NewtonSchulzWorkspace* work) {
  OPTBENCH_CHECK(out != &m_in && steps >= 0);
  const bool transposed = m_in.rows() > m_in.cols();
  Matrix& x = work->x;
  if (transposed) {
    x = m_in.transpose();
  } else {
    x = m_in;
  }
  // The norm is accumulated in float64 so that float32 and float64 builds agree to roundoff.
  const double norm = m_in.template cast<double>().norm();
  x *= static_cast<Real>(1.0 / (norm + eps));
  for (int k = 0; k < steps; ++k) {
    const NewtonSchulzCoefficients c =
        schedule
            ? kMuonScheduleCoefficients[std::min<size_t>(k, kMuonScheduleCoefficients.size() - 1)]
            : kMuonFixedCoefficients;
    work->a.noalias() = x * x.transpose();
    work->b.noalias() = static_cast<Real>(c.c) * (work->a * work->a);
    work->b += static_cast<Real>(c.b) * work->a;
    work->bx.noalias() = work->b * x;
    x = static_cast<Real>(c.a) * x + work->bx;
  }
  if (transposed) {
    *out = x.transpose();
  } else {
    *out = x;
  }
}

void SymmetricEigen(const Matrix& a, Matrix* vectors, Vector* values) {
  Eigen::MatrixXd vectors64;
  Eigen::VectorXd values64;
  if (!Decompose(a.template cast<double>(), &vectors64, &values64)) {
    std::fprintf(stderr,
                 "symmetric eigendecomposition of a %ldx%ld preconditioner factor failed in "
                 "float64\n",
                 static_cast<long>(a.rows()), static_cast<long>(a.cols()));
    std::abort();
  }
  *vectors = vectors64.cast<Real>();
  *values = values64.cast<Real>();
}

void EigenBasis(const Matrix& factor, bool descending, Matrix* basis) {
  Matrix vectors;
  Vector values;
  SymmetricEigen(factor, &vectors, &values);
  if (descending) {
    *basis = vectors.rowwise().reverse();
  } else {
    *basis = vectors;
  }
}

void RefreshBasisByQr(const Matrix& factor, Matrix* basis, std::vector<Eigen::Index>* order) {
  const Eigen::Index k = factor.rows();
  const Matrix projected = factor * *basis;
  Vector estimated(k);
  for (Eigen::Index j = 0; j < k; ++j) estimated(j) = basis->col(j).dot(projected.col(j));
  order->resize(k);
  std::iota(order->begin(), order->end(), Eigen::Index{0});
  std::stable_sort(order->begin(), order->end(),
                   [&](Eigen::Index a, Eigen::Index b) { return estimated(a) > estimated(b); });
  Matrix power(k, k);
  for (Eigen::Index j = 0; j < k; ++j) power.col(j) = projected.col((*order)[j]);
  Eigen::HouseholderQR<Matrix> qr(power);
  *basis = qr.householderQ() * Matrix::Identity(k, k);
  for (Eigen::Index j = 0; j < k; ++j) {
    if (qr.matrixQR()(j, j) < 0) basis->col(j) *= Real{-1};
  }
}

// out = ql^T x qr, a null side being the identity.
void Rotate(const Matrix* ql, const Matrix& x, const Matrix* qr, Matrix* scratch, Matrix* out) {
  if (ql != nullptr) {
    scratch->noalias() = ql->transpose() * x;
  } else {
    *scratch = x;
  }
  if (qr != nullptr) {
    out->noalias() = *scratch * *qr;
  } else {
    *out = *scratch;
  }
}

// out = ql x qr^T, a null side being the identity.
void Unrotate(const Matrix* ql, const Matrix& x, const Matrix* qr, Matrix* scratch, Matrix* out) {
  if (ql != nullptr) {
    scratch->noalias() = *ql * x;
  } else {
    *scratch = x;
  }
  if (qr != nullptr) {
    out->noalias() = *scratch * qr->transpose();
  } else {
    *out = *scratch;
  }
}

EigenbasisSides PaperEigenbasisSides(OptimizerState* state, const ParamSlot& slot,
                                     int64_t max_dim) {
  EigenbasisSides sides;
  if (slot.role == ParamRole::kVector) return sides;
  const Eigen::Index rows = slot.value->rows(), cols = slot.value->cols();
  bool created = false;
  if (rows < max_dim) {
    sides.factor_left = &ShapedStateTensor(state, slot.id, "factor_left", rows, rows);
    sides.basis_left = &ShapedStateTensor(state, slot.id, "basis_left", rows, rows, &created);
    if (created) sides.basis_left->setIdentity();
  }
  created = false;
  if (cols < max_dim) {
    sides.factor_right = &ShapedStateTensor(state, slot.id, "factor_right", cols, cols);
    sides.basis_right = &ShapedStateTensor(state, slot.id, "basis_right", cols, cols, &created);
    if (created) sides.basis_right->setIdentity();
  }
  return sides;
}

void AccumulateFactors(double beta, const Matrix& g, const EigenbasisSides& sides) {
  const Real b = static_cast<Real>(beta), one_minus_b = static_cast<Real>(1.0 - beta);
  if (sides.factor_left != nullptr) {
    *sides.factor_left = b * *sides.factor_left + one_minus_b * (g * g.transpose());
  }
  if (sides.factor_right != nullptr) {
    *sides.factor_right = b * *sides.factor_right + one_minus_b * (g.transpose() * g);
  }
}

void RefreshPaperBases(const EigenbasisSides& sides, double jitter) {
  for (auto [factor, basis] : {std::pair{sides.factor_left, sides.basis_left},
                               std::pair{sides.factor_right, sides.basis_right}}) {
    if (factor == nullptr) continue;
    Matrix jittered = *factor;
    jittered.diagonal().array() += static_cast<Real>(jitter);
    EigenBasis(jittered, /*descending=*/false, basis);
  }
}

void FailNextEigenAttemptsForTesting(int n) { fail_next_eigen_attempts = n; }

Matrix& ShapedStateTensor(OptimizerState* state, const std::string& id, std::string_view name,
                          Eigen::Index rows, Eigen::Index cols, bool* created) {
  auto& per_slot = state->tensors[id];
  auto it = per_slot.find(name);
  if (it == per_slot.end()) {
    it = per_slot.try_emplace(std::string(name), Matrix::Zero(rows, cols)).first;
    if (created != nullptr) *created = true;
  }
  OPTBENCH_CHECK(it->second.rows() == rows && it->second.cols() == cols);
  return it->second;
}

void AdamFallbackStep(OptimizerState* state, const ParamSlot& slot, int64_t t, double lr,
                      double beta1, double beta2, double eps, double weight_decay) {
  const Eigen::Index rows = slot.value->rows(), cols = slot.value->cols();
  Matrix& m = ShapedStateTensor(state, slot.id, "exp_avg", rows, cols);
  Matrix& v = ShapedStateTensor(state, slot.id, "exp_avg_sq", rows, cols);
  const auto g = slot.grad->array();
  m.array() = static_cast<Real>(beta1) * m.array() + static_cast<Real>(1.0 - beta1) * g;
  v.array() = static_cast<Real>(beta2) * v.array() + static_cast<Real>(1.0 - beta2) * g.square();
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  if (weight_decay != 0) *slot.value *= static_cast<Real>(1.0 - lr * weight_decay);
  slot.value->array() -=
      static_cast<Real>(lr / bc1) *
      (m.array() / (v.array().sqrt() / static_cast<Real>(std::sqrt(bc2)) + static_cast<Real>(eps)));
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
