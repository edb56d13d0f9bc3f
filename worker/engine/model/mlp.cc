#include "worker/engine/model/mlp.h"

#include <cmath>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

void InitDense(DenseInit init, Rng* rng, Matrix* weight, Matrix* bias) {
  const double fan_out = static_cast<double>(weight->rows());
  const double fan_in = static_cast<double>(weight->cols());
  const double weight_bound = init == DenseInit::kKaimingUniform
                                  ? 1.0 / std::sqrt(fan_in)
                                  : std::sqrt(6.0 / (fan_in + fan_out));
  for (Eigen::Index i = 0; i < weight->size(); ++i) {
    weight->data()[i] = static_cast<Real>((2.0 * rng->Uniform() - 1.0) * weight_bound);
  }
  if (init == DenseInit::kXavierUniform) {
    bias->setZero();
    return;
  }
  const double bias_bound = 1.0 / std::sqrt(fan_in);
  for (Eigen::Index i = 0; i < bias->size(); ++i) {
    bias->data()[i] = static_cast<Real>((2.0 * rng->Uniform() - 1.0) * bias_bound);
  }
}

MlpModel::MlpModel(const MlpOptions& options, uint64_t seed) : has_bias_(options.bias) {
  OPTBENCH_CHECK(options.num_inputs >= 1 && options.num_classes >= 1);
  std::vector<int64_t> widths = {options.num_inputs};
  for (int64_t h : options.hidden) {
    OPTBENCH_CHECK(h >= 1);
    widths.push_back(h);
  }
  widths.push_back(options.num_classes);
  Rng rng(seed, RngStream::kInit);
  const size_t layers = widths.size() - 1;
  for (size_t l = 0; l < layers; ++l) {
    const int64_t in = widths[l], out = widths[l + 1];
    weights_.push_back(Matrix::Zero(out, in));
    weight_grads_.push_back(Matrix::Zero(out, in));
    biases_.push_back(Matrix::Zero(has_bias_ ? out : 0, 1));
    bias_grads_.push_back(Matrix::Zero(has_bias_ ? out : 0, 1));
    InitDense(options.init, &rng, &weights_.back(), &biases_.back());
  }
  if (options.zero_head) {
    weights_.back().setZero();
    biases_.back().setZero();
  }
  activations_.resize(layers - 1);
  deltas_.resize(layers - 1);
}

void MlpModel::Forward(const ConstMatrixRef& x, MatrixRef logits) {
  OPTBENCH_CHECK(x.cols() == num_inputs() && logits.rows() == x.rows() &&
                 logits.cols() == num_outputs());
  rows_ = x.rows();
  const size_t hidden = activations_.size();
  for (size_t l = 0; l < hidden; ++l) {
    Matrix& a = activations_[l];
    if (a.rows() < rows_) {
      // Grows once to the largest chunk; later chunks (the same size or a shorter last one)
      // reuse the buffers.
      a.resize(rows_, weights_[l].rows());
      deltas_[l].resize(rows_, weights_[l].rows());
    }
    auto out = a.topRows(rows_);
    if (l == 0) {
      out.noalias() = x * weights_[0].transpose();
    } else {
      out.noalias() = activations_[l - 1].topRows(rows_) * weights_[l].transpose();
    }
    if (has_bias_) out.rowwise() += AsRow(biases_[l]);
    out = out.cwiseMax(Real{0});
  }
  if (hidden == 0) {
    logits.noalias() = x * weights_.back().transpose();
  } else {
    logits.noalias() = activations_.back().topRows(rows_) * weights_.back().transpose();
  }
  if (has_bias_) logits.rowwise() += AsRow(biases_.back());
  x_data_ = x.data();
  x_stride_ = x.outerStride();
}

ConstMatrixRef MlpModel::DeltaOf(size_t l, const ConstMatrixRef& dlogits) const {
  return l + 1 == weights_.size() ? dlogits : ConstMatrixRef(deltas_[l].topRows(rows_));
}

void MlpModel::DeltaBelow(size_t l, const ConstMatrixRef& delta) {
  auto below = deltas_[l - 1].topRows(rows_);
  below.noalias() = delta * weights_[l];
  below = (activations_[l - 1].topRows(rows_).array() > Real{0}).select(below, Real{0});
}

void MlpModel::Backward(const ConstMatrixRef& dlogits) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == rows_ && dlogits.cols() == num_outputs());
  const Eigen::Map<const Matrix, 0, Eigen::OuterStride<>> x(x_data_, rows_, num_inputs(),
                                                            Eigen::OuterStride<>(x_stride_));
  // Walks the layers backwards; `delta` is dL/d(output of layer l), r x out_l.
  for (size_t l = weights_.size(); l-- > 0;) {
    const ConstMatrixRef delta = DeltaOf(l, dlogits);
    if (l == 0) {
      weight_grads_[0].noalias() += delta.transpose() * x;
    } else {
      weight_grads_[l].noalias() += delta.transpose() * activations_[l - 1].topRows(rows_);
    }
    if (has_bias_) AddColumnSums(delta, bias_grads_[l]);
    if (l > 0) DeltaBelow(l, delta);
  }
  x_data_ = nullptr;
}

bool MlpModel::InputGradient(const ConstMatrixRef& dlogits, MatrixRef dx) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == rows_ && dlogits.cols() == num_outputs() &&
                 dx.rows() == rows_ && dx.cols() == num_inputs());
  // Backward's delta walk without the parameter gradients; the activations stay as Forward left
  // them, so a Backward may still follow.
  for (size_t l = weights_.size(); l-- > 1;) DeltaBelow(l, DeltaOf(l, dlogits));
  dx.noalias() = DeltaOf(0, dlogits) * weights_[0];
  return true;
}

std::vector<ParamSlot> MlpModel::Params() {
  std::vector<ParamSlot> slots;
  for (size_t l = 0; l < weights_.size(); ++l) {
    const bool head = l + 1 == weights_.size();
    slots.push_back({absl::StrCat("layer", l, ".weight"), &weights_[l], &weight_grads_[l],
                     head ? ParamRole::kOutputHead : ParamRole::kHiddenMatrix});
    if (has_bias_) {
      slots.push_back(
          {absl::StrCat("layer", l, ".bias"), &biases_[l], &bias_grads_[l], ParamRole::kVector});
    }
  }
  return slots;
}

void MlpModel::ZeroGrad() {
  for (Matrix& g : weight_grads_) g.setZero();
  for (Matrix& g : bias_grads_) g.setZero();
}

std::optional<ConstMatrixRef> MlpModel::HeadInput() const {
  if (rows_ == 0) return std::nullopt;
  if (activations_.empty()) {
    if (x_data_ == nullptr) return std::nullopt;
    return ConstMatrixRef(Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>(
        x_data_, rows_, num_inputs(), Eigen::OuterStride<>(x_stride_)));
  }
  return ConstMatrixRef(activations_.back().topRows(rows_));
}

std::vector<std::string> MlpModel::Blockwise::BlockWeights(int64_t block) const {
  OPTBENCH_CHECK(block >= 0 && block <= num_blocks());
  return {absl::StrCat("layer", block, ".weight")};
}

void MlpModel::Blockwise::BlockForward(int64_t block, const ConstMatrixRef& in, Matrix* out) {
  OPTBENCH_CHECK(block >= 0 && block <= num_blocks());
  const size_t l = static_cast<size_t>(block);
  const Matrix& w = m_->weights_[l];
  OPTBENCH_CHECK(in.cols() == w.cols());
  out->resize(in.rows(), w.rows());
  out->noalias() = in * w.transpose();
  if (m_->has_bias_) out->rowwise() += AsRow(m_->biases_[l]);
  if (block < num_blocks()) *out = out->cwiseMax(Real{0});
  block_ = block;
  in_data_ = in.data();
  in_rows_ = in.rows();
  in_stride_ = in.outerStride();
  out_ = *out;
}

void MlpModel::Blockwise::BlockBackward(int64_t block, const ConstMatrixRef& dout) {
  OPTBENCH_CHECK(block == block_ && in_data_ != nullptr && dout.rows() == out_.rows() &&
                 dout.cols() == out_.cols());
  const size_t l = static_cast<size_t>(block);
  const Eigen::Map<const Matrix, 0, Eigen::OuterStride<>> in(
      in_data_, in_rows_, m_->weights_[l].cols(), Eigen::OuterStride<>(in_stride_));
  if (block < num_blocks()) {
    // ReLU'(0) = 0, as Backward: the output is > 0 exactly where the pre-activation was.
    delta_ = (out_.array() > Real{0}).select(dout, Real{0});
  } else {
    delta_ = dout;
  }
  m_->weight_grads_[l].noalias() += delta_.transpose() * in;
  if (m_->has_bias_) AddColumnSums(delta_, m_->bias_grads_[l]);
}

const ModelDef& MlpDefinition() {
  using O = MlpOptions;
  static const ModelDef* def = [] {
    auto* d = new ModelDef(DefineModel<O>(
        "mlp",
        "fully connected ReLU network: Linear -> ReLU per hidden width, then Linear(-> classes)",
        spec::Binding<O>({spec::Bind(&O::hidden, "hidden", spec::Closed(1, 1e6),
                                     "widths of the hidden ReLU layers, input side first; [] = "
                                     "softmax regression"),
                          spec::Bind(&O::bias, "bias", "learn bias vectors"),
                          DenseInitField(&O::init), ZeroHeadField(&O::zero_head)}),
        [](O o, const ModelShape& shape, uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
          o.num_inputs = shape.num_features;
          o.num_classes = shape.num_classes;
          return std::make_unique<MlpModel>(o, seed);
        },
        [](const O& o, const ModelShape& shape) -> absl::StatusOr<ModelFootprint> {
          ModelFootprint f;
          const int64_t bias = o.bias ? 1 : 0;
          int64_t in = shape.num_features;
          for (int64_t h : o.hidden) {
            f.parameters += h * (in + bias);
            f.buffer_reals_per_row += 2 * h;  // Activations and their deltas.
            in = h;
          }
          f.parameters += shape.num_classes * (in + bias);
          return f;
        }));
    d->spec.provides = {kInputGradientCapability};
    d->spec.blocks = [](const spec::ParamMap& p) {
      return static_cast<int64_t>(spec::GetIntList(p, "hidden").size());
    };
    // Block k is hidden layer k (layer<k>.weight, its inputs the layer's below); the head last.
    d->block_weights = [](const spec::ParamMap& p, const ModelShape& shape) {
      std::vector<BlockWeight> out;
      int64_t in = shape.num_features;
      int64_t block = 0;
      for (int64_t h : spec::GetIntList(p, "hidden")) {
        out.push_back({absl::StrCat("layer", block, ".weight"), block, in});
        in = h;
        ++block;
      }
      out.push_back({absl::StrCat("layer", block, ".weight"), block, in});
      return out;
    };
    return d;
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
