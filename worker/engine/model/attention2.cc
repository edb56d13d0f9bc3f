#include "worker/engine/model/attention2.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

// Paper 3's stage diagnostics (ALGORITHMS.md 3.5), in the order Diagnostics computes them.
struct DiagnosticName {
  const char* name;
  const char* doc;
};
// Means over the class's examples (class 0 is y = -1).
constexpr DiagnosticName kPerClassDiagnostics[] = {
    {"attn_11", "attention of patch 1 (signal) to itself, S[1,1]"},
    {"attn_12", "attention of patch 1 to patch 2 (noise), S[1,2]"},
    {"attn_21", "attention of patch 2 to patch 1, S[2,1]"},
    {"attn_22", "attention of patch 2 to itself, S[2,2]"},
    {"value_noise", "y <v, xi>: the value readout's alignment with the example's noise"},
    {"qk_noise_sign_agreement", "fraction of neurons s with sign<w_Q,s, xi> = sign<w_K,s, xi>"},
    {"query_noise_abs", "mean over neurons of |<w_Q,s, xi>|"},
    {"key_noise_abs", "mean over neurons of |<w_K,s, xi>|"},
};
// Scalars of the parameters and the split's signal mu = mean of y x1.
constexpr DiagnosticName kScalarDiagnostics[] = {
    {"query_signal", "mean over neurons of <w_Q,s, mu>"},
    {"query_signal_abs", "mean over neurons of |<w_Q,s, mu>|"},
    {"key_signal", "mean over neurons of <w_K,s, mu>"},
    {"key_signal_abs", "mean over neurons of |<w_K,s, mu>|"},
    {"value_signal", "<v, mu>: the readout's alignment with the signal"},
    {"v_norm", "||v||"},
};

// InvalidArgument unless the data is binary with rows of two patches (what is known of it).
absl::Status CheckPatchData(std::optional<int64_t> num_classes,
                            std::optional<int64_t> num_features) {
  const bool classes_ok = !num_classes.has_value() || *num_classes == 2;
  const bool features_ok = !num_features.has_value() || *num_features % 2 == 0;
  if (classes_ok && features_ok) return absl::OkStatus();
  std::vector<std::string> has;
  if (num_classes.has_value()) has.push_back(absl::StrCat(*num_classes, " classes"));
  if (num_features.has_value()) has.push_back(absl::StrCat(*num_features, " features"));
  return absl::InvalidArgumentError(absl::StrCat(
      "model.name: attention2 needs a binary data set whose rows are two patches [x1, x2] (2 "
      "classes, an even number of features), but the data set has ",
      absl::StrJoin(has, " and ")));
}

}  // namespace

namespace {

// Columns of the per-row scalar buffer cols_.
enum Col : Eigen::Index {
  kS11,     // S[1, 1]: signal query on signal key.
  kS12,     // S[1, 2]
  kS21,     // S[2, 1]: noise query on signal key (paper 3's s_21).
  kS22,     // S[2, 2]
  kU1,      // <v, x1>
  kU2,      // <v, x2>
  kDf,      // Backward: dL/df.
  kDelta1,  // Backward: dL/dscore(1, 1) = -dL/dscore(1, 2).
  kDelta2,  // Backward: dL/dscore(2, 1) = -dL/dscore(2, 2).
  kCols,
};

// sign(a) with sign(0) = 0.
int Sign(double a) { return (a > 0) - (a < 0); }

}  // namespace

int64_t Attention2BufferRealsPerRow(const Attention2Options& options) {
  return 5 * options.m_k + kCols;
}

inline namespace OPTBENCH_ENGINE_PRECISION {

Attention2Model::Attention2Model(const Attention2Options& options, uint64_t seed) : d_(options.d) {
  OPTBENCH_CHECK(options.d >= 1 && options.m_k >= 1 && options.m_v >= 1 && options.sigma0 >= 0);
  w_q_.resize(options.m_k, d_);
  w_k_.resize(options.m_k, d_);
  w_vp_.resize(options.m_v, d_);
  w_vn_.resize(options.m_v, d_);
  Rng rng(seed, RngStream::kInit);
  for (Matrix* w : {&w_q_, &w_k_, &w_vp_, &w_vn_}) {
    for (Eigen::Index i = 0; i < w->size(); ++i) {
      w->data()[i] = static_cast<Real>(options.sigma0 * rng.Normal());
    }
  }
  g_q_ = Matrix::Zero(options.m_k, d_);
  g_k_ = Matrix::Zero(options.m_k, d_);
  g_vp_ = Matrix::Zero(options.m_v, d_);
  g_vn_ = Matrix::Zero(options.m_v, d_);
  v_.resize(d_);
  grad_v_.resize(d_);
}

void Attention2Model::ForwardChunk(const ConstMatrixRef& x) {
  OPTBENCH_CHECK(x.cols() == num_inputs());
  const Eigen::Index r = x.rows();
  if (q1_.rows() < r) {
    const Eigen::Index m = w_q_.rows();
    for (Matrix* b : {&q1_, &q2_, &k1_, &k2_, &work_}) b->resize(r, m);
    cols_.resize(r, kCols);
  }
  rows_ = r;
  const auto x1 = x.leftCols(d_);
  const auto x2 = x.rightCols(d_);
  v_.noalias() = w_vp_.colwise().mean().transpose() - w_vn_.colwise().mean().transpose();
  q1_.topRows(r).noalias() = x1 * w_q_.transpose();
  q2_.topRows(r).noalias() = x2 * w_q_.transpose();
  k1_.topRows(r).noalias() = x1 * w_k_.transpose();
  k2_.topRows(r).noalias() = x2 * w_k_.transpose();
  cols_.col(kU1).head(r).noalias() = x1 * v_;
  cols_.col(kU2).head(r).noalias() = x2 * v_;
  for (Eigen::Index i = 0; i < r; ++i) {
    // With two keys, softmax is a logistic of the score difference; each entry is computed from
    // its own exponent so that a vanishing one (paper 3's s_21 in stage IV) keeps its precision.
    const Real s11 = q1_.row(i).dot(k1_.row(i)), s12 = q1_.row(i).dot(k2_.row(i));
    const Real s21 = q2_.row(i).dot(k1_.row(i)), s22 = q2_.row(i).dot(k2_.row(i));
    cols_(i, kS11) = Real{1} / (Real{1} + std::exp(s12 - s11));
    cols_(i, kS12) = Real{1} / (Real{1} + std::exp(s11 - s12));
    cols_(i, kS21) = Real{1} / (Real{1} + std::exp(s22 - s21));
    cols_(i, kS22) = Real{1} / (Real{1} + std::exp(s21 - s22));
  }
}

void Attention2Model::Forward(const ConstMatrixRef& x, MatrixRef logits) {
  OPTBENCH_CHECK(logits.rows() == x.rows() && logits.cols() == 2);
  ForwardChunk(x);
  const Eigen::Index r = rows_;
  for (Eigen::Index i = 0; i < r; ++i) {
    // f = sum_l sum_a S[l, a] <v, x_a>.
    const Real f = (cols_(i, kS11) + cols_(i, kS21)) * cols_(i, kU1) +
                   (cols_(i, kS12) + cols_(i, kS22)) * cols_(i, kU2);
    logits(i, 0) = Real{-0.5} * f;
    logits(i, 1) = Real{0.5} * f;
  }
  x_data_ = x.data();
  x_stride_ = x.outerStride();
}

void Attention2Model::Backward(const ConstMatrixRef& dlogits) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == rows_ && dlogits.cols() == 2);
  const Eigen::Index r = rows_;
  const Eigen::Map<const Matrix, 0, Eigen::OuterStride<>> x(x_data_, r, num_inputs(),
                                                            Eigen::OuterStride<>(x_stride_));
  const auto x1 = x.leftCols(d_);
  const auto x2 = x.rightCols(d_);
  for (Eigen::Index i = 0; i < r; ++i) {
    const Real df = Real{0.5} * (dlogits(i, 1) - dlogits(i, 0));
    // The softmax Jacobian (ALGORITHMS.md 3.2's e[l, a]): with two keys
    // e[l, 1] = S[l,1] S[l,2] (<v, x1> - <v, x2>) = -e[l, 2].
    const Real du = cols_(i, kU1) - cols_(i, kU2);
    cols_(i, kDf) = df;
    cols_(i, kDelta1) = df * cols_(i, kS11) * cols_(i, kS12) * du;
    cols_(i, kDelta2) = df * cols_(i, kS21) * cols_(i, kS22) * du;
  }
  auto work = work_.topRows(r);
  const auto df = cols_.col(kDf).head(r).array();
  const auto delta1 = cols_.col(kDelta1).head(r).array();
  const auto delta2 = cols_.col(kDelta2).head(r).array();
  // score(l, a) = <W_K x_a, W_Q x_l>: dscore/dW_Q = K_a x_l^T, so
  // dL/dW_Q = sum_l (sum_a delta_la K_a)^T X_l with delta_l2 = -delta_l1.
  work = (k1_.topRows(r) - k2_.topRows(r)).array().colwise() * delta1;
  g_q_.noalias() += work.transpose() * x1;
  work = (k1_.topRows(r) - k2_.topRows(r)).array().colwise() * delta2;
  g_q_.noalias() += work.transpose() * x2;
  // dscore(l, a)/dW_K = Q_l x_a^T: dL/dW_K = H^T (X1 - X2), H = delta_11 Q1 + delta_21 Q2.
  work = q1_.topRows(r).array().colwise() * delta1 + q2_.topRows(r).array().colwise() * delta2;
  g_k_.noalias() += work.transpose() * x1;
  g_k_.noalias() -= work.transpose() * x2;
  // df/dv = sum_l z_l = (S11 + S21) x1 + (S12 + S22) x2; v is the mean row of W_V+ minus that of
  // W_V-, so each row of W_V+- gets +-dL/dv / m_v.
  grad_v_.noalias() =
      x1.transpose() *
      (df * (cols_.col(kS11).head(r).array() + cols_.col(kS21).head(r).array())).matrix();
  grad_v_.noalias() +=
      x2.transpose() *
      (df * (cols_.col(kS12).head(r).array() + cols_.col(kS22).head(r).array())).matrix();
  const Real inv_mv = Real{1} / static_cast<Real>(w_vp_.rows());
  g_vp_.rowwise() += inv_mv * grad_v_.transpose();
  g_vn_.rowwise() -= inv_mv * grad_v_.transpose();
  x_data_ = nullptr;
}

std::vector<ParamSlot> Attention2Model::Params() {
  return {{"query.weight", &w_q_, &g_q_, ParamRole::kHiddenMatrix},
          {"key.weight", &w_k_, &g_k_, ParamRole::kHiddenMatrix},
          {"value_pos.weight", &w_vp_, &g_vp_, ParamRole::kHiddenMatrix},
          {"value_neg.weight", &w_vn_, &g_vn_, ParamRole::kHiddenMatrix}};
}

void Attention2Model::ZeroGrad() {
  g_q_.setZero();
  g_k_.setZero();
  g_vp_.setZero();
  g_vn_.setZero();
}

void Attention2Model::Diagnostics(const ConstMatrixRef& x, absl::Span<const int32_t> labels,
                                  int64_t num_classes, std::vector<Diagnostic>* out) {
  const Eigen::Index n = x.rows();
  OPTBENCH_CHECK(num_classes == 2 && x.cols() == num_inputs() && n >= 1 &&
                 static_cast<Eigen::Index>(labels.size()) == n);
  const Eigen::Index m = w_q_.rows();
  // mu = (1/n) sum_i y_i x1_i, in float64 (it is a mean over the whole split).
  Eigen::VectorXd mu = Eigen::VectorXd::Zero(d_);
  for (Eigen::Index i = 0; i < n; ++i) {
    OPTBENCH_CHECK(labels[i] == 0 || labels[i] == 1);
    const double y = labels[i] == 1 ? 1.0 : -1.0;
    mu += y * x.row(i).head(d_).transpose().cast<double>();
  }
  mu /= static_cast<double>(n);

  // Per-class sums, divided by the class counts at the end.
  enum PerClass {
    kAttn11,
    kAttn12,
    kAttn21,
    kAttn22,
    kValueNoise,
    kSignAgreement,
    kQueryNoiseAbs,
    kKeyNoiseAbs,
    kPerClass
  };
  double sums[kPerClass][2] = {};
  int64_t counts[2] = {0, 0};
  const Eigen::Index chunk = q1_.rows() > 0 ? q1_.rows() : 256;
  for (Eigen::Index start = 0; start < n; start += chunk) {
    const Eigen::Index r = std::min(chunk, n - start);
    ForwardChunk(x.middleRows(start, r));
    for (Eigen::Index i = 0; i < r; ++i) {
      const int c = labels[start + i];
      const double y = c == 1 ? 1.0 : -1.0;
      ++counts[c];
      sums[kAttn11][c] += cols_(i, kS11);
      sums[kAttn12][c] += cols_(i, kS12);
      sums[kAttn21][c] += cols_(i, kS21);
      sums[kAttn22][c] += cols_(i, kS22);
      sums[kValueNoise][c] += y * cols_(i, kU2);
      // q2_ and k2_ row i hold <w_Q,s, xi_i> and <w_K,s, xi_i> for every neuron s.
      int64_t agree = 0;
      double q_abs = 0, k_abs = 0;
      for (Eigen::Index s = 0; s < m; ++s) {
        agree += Sign(q2_(i, s)) == Sign(k2_(i, s));
        q_abs += std::fabs(static_cast<double>(q2_(i, s)));
        k_abs += std::fabs(static_cast<double>(k2_(i, s)));
      }
      const double md = static_cast<double>(m);
      sums[kSignAgreement][c] += static_cast<double>(agree) / md;
      sums[kQueryNoiseAbs][c] += q_abs / md;
      sums[kKeyNoiseAbs][c] += k_abs / md;
    }
  }
  x_data_ = nullptr;  // A pending Backward would read Diagnostics' buffers.

  for (int k = 0; k < kPerClass; ++k) {
    Diagnostic diag{kPerClassDiagnostics[k].name, {0.0, 0.0}};
    for (int c = 0; c < 2; ++c) {
      // An empty class reports 0 rather than 0/0: NaN is the trainer's divergence signal.
      if (counts[c] > 0) diag.values[c] = sums[k][c] / static_cast<double>(counts[c]);
    }
    out->push_back(std::move(diag));
  }
  const Eigen::VectorXd q_mu = w_q_.cast<double>() * mu;
  const Eigen::VectorXd k_mu = w_k_.cast<double>() * mu;
  const Eigen::VectorXd v = v_.cast<double>();
  const double scalars[] = {q_mu.mean(), q_mu.cwiseAbs().mean(),
                            k_mu.mean(), k_mu.cwiseAbs().mean(),
                            v.dot(mu),   v.norm()};
  static_assert(std::size(scalars) == std::size(kScalarDiagnostics));
  for (size_t k = 0; k < std::size(scalars); ++k) {
    out->push_back({kScalarDiagnostics[k].name, {scalars[k]}});
  }
}

const ModelDef& Attention2Definition() {
  using O = Attention2Options;
  static const ModelDef* def = [] {
    auto* d = new ModelDef(DefineModel<O>(
        "attention2",
        "paper 3 (ALGORITHMS 3.2): softmax attention over the two patches [x1, x2] of a row "
        "with trainable W_Q, W_K, readout f = sum_l <v, z_l> with v = mean row of W_V+ "
        "minus that of W_V-, logistic loss; binary data with 2d features",
        spec::Binding<O>({spec::Bind(&O::m_k, "m_k", spec::Closed(1, 100000),
                                     "rows of W_Q and W_K (paper 3 service default 10)"),
                          spec::Bind(&O::m_v, "m_v", spec::Closed(1, 100000),
                                     "rows of W_V+ and W_V- (service default 10)"),
                          spec::Bind(&O::sigma0, "sigma0", spec::Closed(0, 1e6),
                                     "initial weights ~ N(0, sigma0^2)")}),
        [](O o, const ModelShape& shape, uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
          if (absl::Status s = CheckPatchData(shape.num_classes, shape.num_features); !s.ok()) {
            return s;
          }
          o.d = shape.num_features / 2;
          return std::make_unique<Attention2Model>(o, seed);
        },
        [](O o, const ModelShape& shape) -> absl::StatusOr<ModelFootprint> {
          if (absl::Status s = CheckPatchData(shape.num_classes, shape.num_features); !s.ok()) {
            return s;
          }
          o.d = shape.num_features / 2;
          ModelFootprint f;
          f.parameters = 2 * (o.m_k + o.m_v) * o.d;
          f.buffer_reals_per_row = Attention2BufferRealsPerRow(o);
          return f;
        }));
    d->spec.accepts = [](const spec::ParamMap&, const spec::DataTraits& data) {
      return CheckPatchData(data.num_classes, data.num_features);
    };
    for (const DiagnosticName& m : kPerClassDiagnostics) {
      d->spec.metrics.push_back(spec::PerClassMetric(DiagnosticMetricName(m.name),
                                                     spec::MetricSplits::kEach,
                                                     spec::Aggregate::kExampleWeighted, m.doc));
    }
    for (const DiagnosticName& m : kScalarDiagnostics) {
      d->spec.metrics.push_back(
          spec::ScalarMetric(DiagnosticMetricName(m.name), spec::MetricSplits::kEach, m.doc));
    }
    return d;
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
