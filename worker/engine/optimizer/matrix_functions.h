// Matrix building blocks shared by the matrix-aware optimizers (muon, adamuon, shampoo, soap):
// quintic Newton–Schulz orthogonalization and a symmetric eigendecomposition that retries in
// float64 (ALGORITHMS.md 0.7, 0.10).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_MATRIX_FUNCTIONS_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_MATRIX_FUNCTIONS_H_

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// One quintic Newton–Schulz step X <- a X + (b A + c A^2) X with A = X X^T.
struct NewtonSchulzCoefficients {
  double a, b, c;
};

// KellerJordan/Muon muon.py: (3.4445, -4.7750, 2.0315) at every step.
inline constexpr NewtonSchulzCoefficients kMuonFixedCoefficients = {3.4445, -4.7750, 2.0315};
// kvfrans/matrix-whitening optimizers/muon.py: the per-step schedule (ALGORITHMS.md 2.4.3); a run
// of more than five steps repeats the last triple.
inline constexpr std::array<NewtonSchulzCoefficients, 5> kMuonScheduleCoefficients = {{
    {4.0848, -6.8946, 2.9270},
    {3.9505, -6.3029, 2.6377},
    {3.7418, -5.5913, 2.3037},
    {2.8769, -3.1427, 1.2046},
    {2.8366, -3.0525, 1.2012},
}};

// Work buffers of NewtonSchulz, sized on first use (no allocation afterwards for one shape).
struct NewtonSchulzWorkspace {
  Matrix x, a, b, bx;
};

// out (m x n) <- approximate orthogonal polar factor of `m_in` (m x n): X = M / (||M||_F + eps),
// then `steps` quintic iterations on the short side (X is transposed when m > n, so X X^T is
// min(m, n)^2), in the engine's precision (float32 in the product; the reference uses bfloat16).
// With `schedule`, step k uses schedule[min(k, 4)]; otherwise kMuonFixedCoefficients.
// A zero M gives a zero output. `out` may not alias `m_in`.
void NewtonSchulz(const Matrix& m_in, int steps, bool schedule, double eps, Matrix* out,
                  NewtonSchulzWorkspace* work);

// Eigendecomposition of the symmetric matrix `a` (k x k) as torch/jnp.linalg.eigh of a + 1e-30 I:
// `values` ascending, `vectors` columns matching. Solved in float64 whatever the engine's
// precision (the references solve in float32 and retry in float64 on failure): in float32 the
// small eigenvalues that Shampoo's root_eps floor and SOAP's Adam divide by carry an absolute
// error of ~1e-7 of the largest, and how it falls depends on the BLAS (OpenBLAS's ssymv vs
// Eigen's: shampoo_basic's float32 trajectory was 7e-7 or 1.9e-5 from float64's, soap_paper's
// 0.12; solved in float64, 7e-7 and 3e-7 with either). With OpenBLAS the solver is LAPACK's
// dsyevd (divide and conquer, what eigh calls: a Shampoo job of paper 2's example took about 14 s
// with it, about 25 s with Eigen's solver in float64), else Eigen's SelfAdjointEigenSolver. A
// failure aborts with a message (finite input must decompose; never NaN silently).
void SymmetricEigen(const Matrix& a, Matrix* vectors, Vector* values);

// basis (k x k) <- eigenvectors of the symmetric `factor` (SymmetricEigen), columns in ascending
// or, with `descending`, descending eigenvalue order (torch.flip of eigh's columns).
void EigenBasis(const Matrix& factor, bool descending, Matrix* basis);

// SOAP's basis refresh (nikhilvyas/SOAP get_orthogonal_matrix_QR; ALGORITHMS.md 0.9): sorts the
// columns of `basis` by the estimated eigenvalues diag(basis^T factor basis), descending (ties
// keep their order), writes that permutation to *order (new column j = old column order[j]), then
// basis <- Q of the Householder QR of factor * basis, with column signs fixed so diag(R) >= 0.
void RefreshBasisByQr(const Matrix& factor, Matrix* basis, std::vector<Eigen::Index>* order);

// out = ql^T x qr (into the eigenbasis) and out = ql x qr^T (back), a null side being the identity.
// `scratch` holds the intermediate product; none of the arguments may alias `out` or `scratch`.
void Rotate(const Matrix* ql, const Matrix& x, const Matrix* qr, Matrix* scratch, Matrix* out);
void Unrotate(const Matrix* ql, const Matrix& x, const Matrix* qr, Matrix* scratch, Matrix* out);

// The rotated sides of a slot for the eigenbasis methods of paper 2 (SOAP paper variant, SPlus,
// SPA): factor and basis per side, null for a side that is not rotated. Bases start as identities.
struct EigenbasisSides {
  Matrix* factor_left = nullptr;
  Matrix* basis_left = nullptr;
  Matrix* factor_right = nullptr;
  Matrix* basis_right = nullptr;
};

// The sides of `slot` in `state` ("factor_left"/"basis_left", "factor_right"/"basis_right"): a
// side is rotated when the slot is not a vector and its length is < max_dim (the code's d <
// max_dim).
EigenbasisSides PaperEigenbasisSides(OptimizerState* state, const ParamSlot& slot, int64_t max_dim);

// factor <- beta factor + (1 - beta) G G^T (left) / G^T G (right) for the sides present.
void AccumulateFactors(double beta, const Matrix& g, const EigenbasisSides& sides);

// basis <- eigenvectors (ascending) of factor + jitter I for the sides present (the code adds
// `jitter` itself; SymmetricEigen's own 1e-30 comes on top).
void RefreshPaperBases(const EigenbasisSides& sides, double jitter);

// Test hook: the next `n` solver attempts report failure (the abort). Not thread-safe; tests
// only.
void FailNextEigenAttemptsForTesting(int n);

// State tensor `name` of slot `id` with any shape (preconditioner factors are rows x rows or
// cols x cols), created as zeros on first use (then *created, if not null, is set to true).
// Checks (aborts) that an existing tensor has the requested shape.
Matrix& ShapedStateTensor(OptimizerState* state, const std::string& id, std::string_view name,
                          Eigen::Index rows, Eigen::Index cols, bool* created = nullptr);

// One bias-corrected Adam step on a slot's value with moments "exp_avg" / "exp_avg_sq" in
// `state` (ALGORITHMS.md 0.2): the fallback the matrix optimizers use for vector slots.
// t >= 1 is the Adam step count; weight decay is decoupled (theta <- theta (1 - lr wd)) first.
void AdamFallbackStep(OptimizerState* state, const ParamSlot& slot, int64_t t, double lr,
                      double beta1, double beta2, double eps, double weight_decay);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_MATRIX_FUNCTIONS_H_
