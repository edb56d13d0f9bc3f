#include "worker/engine/model/linear.h"

#include <cmath>
#include <memory>

#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

LinearModel::LinearModel(int64_t num_features, int64_t num_classes, bool bias, LinearInit init,
                         uint64_t seed)
    : weight_(Matrix::Zero(num_classes, num_features)),
      weight_grad_(Matrix::Zero(num_classes, num_features)),
      bias_(Matrix::Zero(bias ? num_classes : 0, 1)),
      bias_grad_(Matrix::Zero(bias ? num_classes : 0, 1)),
      has_bias_(bias) {
  OPTBENCH_CHECK(num_features >= 1 && num_classes >= 1);
  if (init == LinearInit::kUniform) {
    Rng rng(seed, RngStream::kInit);
    const double bound = 1.0 / std::sqrt(static_cast<double>(num_features));
    auto draw = [&]() { return static_cast<Real>((2.0 * rng.Uniform() - 1.0) * bound); };
    for (Eigen::Index i = 0; i < weight_.size(); ++i) weight_.data()[i] = draw();
    for (Eigen::Index i = 0; i < bias_.size(); ++i) bias_.data()[i] = draw();
  }
}

void LinearModel::Forward(const ConstMatrixRef& x, MatrixRef logits) {
  OPTBENCH_CHECK(x.cols() == weight_.cols() && logits.rows() == x.rows() &&
                 logits.cols() == weight_.rows());
  logits.noalias() = x * weight_.transpose();
  if (has_bias_) logits.rowwise() += AsRow(bias_);
  x_data_ = x.data();
  x_rows_ = x.rows();
  x_stride_ = x.outerStride();
}

void LinearModel::Backward(const ConstMatrixRef& dlogits) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == x_rows_ &&
                 dlogits.cols() == weight_.rows());
  const Eigen::Map<const Matrix, 0, Eigen::OuterStride<>> x(x_data_, x_rows_, weight_.cols(),
                                                            Eigen::OuterStride<>(x_stride_));
  weight_grad_.noalias() += dlogits.transpose() * x;
  if (has_bias_) AddColumnSums(dlogits, bias_grad_);
  x_data_ = nullptr;
}

bool LinearModel::InputGradient(const ConstMatrixRef& dlogits, MatrixRef dx) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == x_rows_ &&
                 dlogits.cols() == weight_.rows() && dx.rows() == x_rows_ &&
                 dx.cols() == weight_.cols());
  dx.noalias() = dlogits * weight_;
  return true;
}

std::vector<ParamSlot> LinearModel::Params() {
  std::vector<ParamSlot> slots = {{"weight", &weight_, &weight_grad_, ParamRole::kOutputHead}};
  if (has_bias_) slots.push_back({"bias", &bias_, &bias_grad_, ParamRole::kVector});
  return slots;
}

void LinearModel::ZeroGrad() {
  weight_grad_.setZero();
  bias_grad_.setZero();
}

std::optional<ConstMatrixRef> LinearModel::HeadInput() const {
  if (x_data_ == nullptr) return std::nullopt;
  return ConstMatrixRef(Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>(
      x_data_, x_rows_, weight_.cols(), Eigen::OuterStride<>(x_stride_)));
}

const ModelDef& LinearDefinition() {
  using O = LinearOptions;
  static const ModelDef* def = [] {
    auto* d = new ModelDef(DefineModel<O>(
        "linear", "softmax regression: logits = x W^T + b, W is classes x features",
        spec::Binding<O>(
            {spec::Bind(&O::bias, "bias", "learn a bias vector b"),
             spec::BindChoice(&O::init, "init",
                              {{"zeros", LinearInit::kZeros}, {"uniform", LinearInit::kUniform}},
                              "initial weights: zeros, or Uniform(-1/sqrt(d), 1/sqrt(d)) (PyTorch "
                              "default)")}),
        [](const O& o, const ModelShape& shape,
           uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
          return std::make_unique<LinearModel>(shape.num_features, shape.num_classes, o.bias,
                                               o.init, seed);
        },
        [](const O& o, const ModelShape& shape) -> absl::StatusOr<ModelFootprint> {
          ModelFootprint f;
          f.parameters = shape.num_classes * (shape.num_features + (o.bias ? 1 : 0));
          return f;
        }));
    d->spec.provides = {kInputGradientCapability};
    return d;
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
