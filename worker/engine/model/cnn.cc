#include "worker/engine/model/cnn.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

constexpr int64_t kKernel = 5;
constexpr int64_t kPad = 2;

}  // namespace

CnnShape CnnShapeFor(const CnnOptions& o) {
  OPTBENCH_CHECK(o.height >= 4 && o.width >= 4 && o.in_channels >= 1 && o.channels1 >= 1 &&
                 o.channels2 >= 1 && o.num_classes >= 1);
  CnnShape s;
  s.pooled1_height = o.height / 2;
  s.pooled1_width = o.width / 2;
  s.pooled2_height = s.pooled1_height / 2;
  s.pooled2_width = s.pooled1_width / 2;
  s.flat = o.channels2 * s.pooled2_height * s.pooled2_width;
  const int64_t b = o.bias ? 1 : 0;
  s.num_params = o.channels1 * (o.in_channels * kKernel * kKernel + b) +
                 o.channels2 * (o.channels1 * kKernel * kKernel + b) + o.num_classes * (s.flat + b);
  const int64_t pooled1 = o.channels1 * s.pooled1_height * s.pooled1_width;
  // pooled1, pooled2, dpooled2, and the two argmax arrays (int32, counted as one Real each).
  s.buffer_reals_per_row = 2 * pooled1 + 3 * s.flat;
  const int64_t plane1 = o.height * o.width;
  const int64_t plane2 = s.pooled1_height * s.pooled1_width;
  const int64_t col = std::max(o.in_channels * plane1, o.channels1 * plane2) * kKernel * kKernel;
  const int64_t conv = std::max(o.channels1 * plane1, o.channels2 * plane2);
  // Plus the zero-bordered copy of one input image per stage.
  s.block_reals = kCnnBlockRows * (2 * col + conv + pooled1) +
                  o.in_channels * (o.height + 2 * kPad) * (o.width + 2 * kPad) +
                  o.channels1 * (s.pooled1_height + 2 * kPad) * (s.pooled1_width + 2 * kPad);
  return s;
}

inline namespace OPTBENCH_ENGINE_PRECISION {

CnnModel::CnnModel(const CnnOptions& options, DenseInit init, bool zero_head, uint64_t seed)
    : options_(options), in_size_(options.height * options.width) {
  const CnnShape shape = CnnShapeFor(options);
  const int64_t b = options.bias ? 1 : 0;
  auto make_stage = [&](int64_t in, int64_t out, int64_t h, int64_t w) {
    Stage s;
    s.in_channels = in;
    s.out_channels = out;
    s.height = h;
    s.width = w;
    s.pooled_height = h / 2;
    s.pooled_width = w / 2;
    s.kernel = Matrix::Zero(out, in * kKernel * kKernel);
    s.kernel_grad = Matrix::Zero(out, in * kKernel * kKernel);
    s.bias = Matrix::Zero(out * b, 1);
    s.bias_grad = Matrix::Zero(out * b, 1);
    s.padded.assign(static_cast<size_t>(in * (h + 2 * kPad) * (w + 2 * kPad)), Real{0});
    return s;
  };
  stage1_ = make_stage(options.in_channels, options.channels1, options.height, options.width);
  stage2_ =
      make_stage(options.channels1, options.channels2, shape.pooled1_height, shape.pooled1_width);
  head_ = Matrix::Zero(options.num_classes, shape.flat);
  head_grad_ = Matrix::Zero(options.num_classes, shape.flat);
  head_bias_ = Matrix::Zero(options.num_classes * b, 1);
  head_bias_grad_ = Matrix::Zero(options.num_classes * b, 1);
  const int64_t col_per_row =
      std::max(stage1_.in_channels * stage1_.plane(), stage2_.in_channels * stage2_.plane()) *
      kKernel * kKernel;
  const int64_t conv_per_row =
      std::max(stage1_.out_channels * stage1_.plane(), stage2_.out_channels * stage2_.plane());
  col_.resize(static_cast<size_t>(kCnnBlockRows * col_per_row));
  dcol_.resize(static_cast<size_t>(kCnnBlockRows * col_per_row));
  conv_.resize(static_cast<size_t>(kCnnBlockRows * conv_per_row));
  dpooled1_.resize(kCnnBlockRows, stage1_.pooled_size());
  Rng rng(seed, RngStream::kInit);
  InitDense(init, &rng, &stage1_.kernel, &stage1_.bias);
  InitDense(init, &rng, &stage2_.kernel, &stage2_.bias);
  InitDense(init, &rng, &head_, &head_bias_);
  if (zero_head) {
    head_.setZero();
    head_bias_.setZero();
  }
}

void CnnModel::Im2Col(Stage* s, const Real* images, Eigen::Index stride, int64_t n, MatrixMap col) {
  const int64_t h = s->height, w = s->width, plane = s->plane();
  const int64_t pw = w + 2 * kPad, pplane = (h + 2 * kPad) * pw;
  Real* padded = s->padded.data();
  Real* dst = col.data();
  for (int64_t e = 0; e < n; ++e) {
    // Copy the image into the interior of a zero-bordered buffer: every window then reads 5
    // contiguous values with no bounds checks (the border is zeroed once, at construction).
    const Real* image = images + e * stride;
    for (int64_t c = 0; c < s->in_channels; ++c) {
      for (int64_t y = 0; y < h; ++y) {
        std::copy(image + c * plane + y * w, image + c * plane + (y + 1) * w,
                  padded + c * pplane + (y + kPad) * pw + kPad);
      }
    }
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        // Row (e, y, x) holds the 5x5 window centred on (y, x) of every input channel.
        for (int64_t c = 0; c < s->in_channels; ++c) {
          const Real* src = padded + c * pplane + y * pw + x;
          for (int64_t i = 0; i < kKernel; ++i, src += pw, dst += kKernel) {
            // A constant-size memcpy compiles to two moves; a 5-step loop does not vectorize.
            std::memcpy(dst, src, kKernel * sizeof(Real));
          }
        }
      }
    }
  }
}

void CnnModel::Col2Im(Stage* s, const MatrixMap& col, int64_t n, Real* images,
                      Eigen::Index stride) {
  const int64_t h = s->height, w = s->width, plane = s->plane();
  const int64_t pw = w + 2 * kPad, pplane = (h + 2 * kPad) * pw;
  Real* padded = s->padded.data();
  const Real* src = col.data();
  for (int64_t e = 0; e < n; ++e) {
    std::fill(padded, padded + s->in_channels * pplane, Real{0});
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        for (int64_t c = 0; c < s->in_channels; ++c) {
          Real* dst = padded + c * pplane + y * pw + x;
          for (int64_t i = 0; i < kKernel; ++i, dst += pw, src += kKernel) {
            Eigen::Map<Eigen::Array<Real, kKernel, 1>>(dst) +=
                Eigen::Map<const Eigen::Array<Real, kKernel, 1>>(src);
          }
        }
      }
    }
    // The border collected the gradient of the zero padding: dropped.
    Real* image = images + e * stride;
    for (int64_t c = 0; c < s->in_channels; ++c) {
      for (int64_t y = 0; y < h; ++y) {
        const Real* row = padded + c * pplane + (y + kPad) * pw + kPad;
        std::copy(row, row + w, image + c * plane + y * w);
      }
    }
  }
  // Leave the border zero for Im2Col.
  std::fill(padded, padded + s->in_channels * pplane, Real{0});
}

void CnnModel::StageForward(const Stage& s, int64_t n, Real* pooled, int32_t* argmax,
                            Eigen::Index stride) {
  MatrixMap conv = Conv(s, n);
  conv.noalias() = Col(s, n) * s.kernel.transpose();
  if (options_.bias) conv.rowwise() += AsRow(s.bias);
  // pool(relu(z)) = relu(pool(z)), and the first maximum of z in a window is the first maximum
  // of relu(z) whenever that maximum is positive (otherwise the gradient is 0 either way).
  const int64_t w = s.width, ph = s.pooled_height, pw = s.pooled_width, plane = s.plane();
  const int64_t out = s.out_channels;
  for (int64_t e = 0; e < n; ++e) {
    const Real* z_image = conv.data() + e * plane * out;
    for (int64_t c = 0; c < out; ++c) {
      const Real* z = z_image + c;  // Pixel k of channel c is z[k · out].
      Real* pooled_c = pooled + e * stride + c * ph * pw;
      int32_t* argmax_c = argmax + e * stride + c * ph * pw;
      for (int64_t py = 0; py < ph; ++py) {
        for (int64_t px = 0; px < pw; ++px) {
          int64_t best = (2 * py) * w + 2 * px;
          const int64_t candidates[3] = {best + 1, best + w, best + w + 1};
          for (int64_t k : candidates) {
            if (z[k * out] > z[best * out]) best = k;
          }
          pooled_c[py * pw + px] = std::max(z[best * out], Real{0});
          argmax_c[py * pw + px] = static_cast<int32_t>(best);
        }
      }
    }
  }
}

void CnnModel::StageBackward(Stage* s, int64_t n, const Real* pooled, const int32_t* argmax,
                             const Real* dpooled, Eigen::Index stride, Real* dimages,
                             Eigen::Index dstride) {
  // dL/dz is nonzero only at each window's maximum where the pooled value is positive: at most a
  // quarter of the convolution outputs. Both gradients are therefore sums over those outputs of
  // one im2col row times a kernel row, instead of two dense GEMMs that are >= 75% zeros.
  const MatrixMap col = Col(*s, n);
  MatrixMap dcol = Dcol(*s, n);
  if (dimages != nullptr) dcol.setZero();
  const int64_t pooled_plane = s->pooled_height * s->pooled_width, plane = s->plane();
  for (int64_t e = 0; e < n; ++e) {
    for (int64_t c = 0; c < s->out_channels; ++c) {
      const int64_t offset = e * stride + c * pooled_plane;
      for (int64_t k = offset; k < offset + pooled_plane; ++k) {
        if (!(pooled[k] > Real{0}) || dpooled[k] == Real{0}) continue;
        const Real g = dpooled[k];
        const Eigen::Index row = e * plane + argmax[k];
        s->kernel_grad.row(c) += g * col.row(row);
        if (options_.bias) s->bias_grad(c, 0) += g;
        if (dimages != nullptr) dcol.row(row) += g * s->kernel.row(c);
      }
    }
  }
  if (dimages != nullptr) Col2Im(s, dcol, n, dimages, dstride);
}

void CnnModel::Forward(const ConstMatrixRef& x, MatrixRef logits) {
  OPTBENCH_CHECK(x.cols() == num_inputs() && logits.rows() == x.rows() &&
                 logits.cols() == num_outputs());
  rows_ = x.rows();
  const int64_t size1 = stage1_.pooled_size();
  const int64_t size2 = head_.cols();
  if (pooled1_.rows() < rows_) {
    // Grows once to the largest chunk; later chunks reuse the buffers.
    pooled1_.resize(rows_, size1);
    pooled2_.resize(rows_, size2);
    dpooled2_.resize(rows_, size2);
    argmax1_.resize(static_cast<size_t>(rows_ * size1));
    argmax2_.resize(static_cast<size_t>(rows_ * size2));
  }
  for (Eigen::Index e0 = 0; e0 < rows_; e0 += kCnnBlockRows) {
    const int64_t n = std::min<int64_t>(kCnnBlockRows, rows_ - e0);
    Im2Col(&stage1_, x.row(e0).data(), x.outerStride(), n, Col(stage1_, n));
    StageForward(stage1_, n, pooled1_.row(e0).data(), &argmax1_[e0 * size1], size1);
    Im2Col(&stage2_, pooled1_.row(e0).data(), size1, n, Col(stage2_, n));
    StageForward(stage2_, n, pooled2_.row(e0).data(), &argmax2_[e0 * size2], size2);
  }
  logits.noalias() = pooled2_.topRows(rows_) * head_.transpose();
  if (options_.bias) logits.rowwise() += AsRow(head_bias_);
  x_data_ = x.data();
  x_stride_ = x.outerStride();
}

void CnnModel::Backward(const ConstMatrixRef& dlogits) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == rows_ && dlogits.cols() == num_outputs());
  const int64_t size1 = stage1_.pooled_size();
  const int64_t size2 = head_.cols();
  head_grad_.noalias() += dlogits.transpose() * pooled2_.topRows(rows_);
  if (options_.bias) AddColumnSums(dlogits, head_bias_grad_);
  dpooled2_.topRows(rows_).noalias() = dlogits * head_;
  for (Eigen::Index e0 = 0; e0 < rows_; e0 += kCnnBlockRows) {
    const int64_t n = std::min<int64_t>(kCnnBlockRows, rows_ - e0);
    // The im2col matrices are recomputed: keeping them from the forward would cost
    // in·25·h·w Reals per example of the chunk for each stage.
    Im2Col(&stage2_, pooled1_.row(e0).data(), size1, n, Col(stage2_, n));
    StageBackward(&stage2_, n, pooled2_.row(e0).data(), &argmax2_[e0 * size2],
                  dpooled2_.row(e0).data(), size2, dpooled1_.data(), size1);
    Im2Col(&stage1_, x_data_ + e0 * x_stride_, x_stride_, n, Col(stage1_, n));
    StageBackward(&stage1_, n, pooled1_.row(e0).data(), &argmax1_[e0 * size1], dpooled1_.data(),
                  size1, nullptr, 0);
  }
  x_data_ = nullptr;
}

std::vector<ParamSlot> CnnModel::Params() {
  std::vector<ParamSlot> slots;
  slots.push_back(
      {"conv1.weight", &stage1_.kernel, &stage1_.kernel_grad, ParamRole::kHiddenMatrix});
  if (options_.bias) {
    slots.push_back({"conv1.bias", &stage1_.bias, &stage1_.bias_grad, ParamRole::kVector});
  }
  slots.push_back(
      {"conv2.weight", &stage2_.kernel, &stage2_.kernel_grad, ParamRole::kHiddenMatrix});
  if (options_.bias) {
    slots.push_back({"conv2.bias", &stage2_.bias, &stage2_.bias_grad, ParamRole::kVector});
  }
  slots.push_back({"head.weight", &head_, &head_grad_, ParamRole::kOutputHead});
  if (options_.bias) {
    slots.push_back({"head.bias", &head_bias_, &head_bias_grad_, ParamRole::kVector});
  }
  return slots;
}

void CnnModel::ZeroGrad() {
  stage1_.kernel_grad.setZero();
  stage1_.bias_grad.setZero();
  stage2_.kernel_grad.setZero();
  stage2_.bias_grad.setZero();
  head_grad_.setZero();
  head_bias_grad_.setZero();
}

std::optional<ConstMatrixRef> CnnModel::HeadInput() const {
  if (x_data_ == nullptr) return std::nullopt;
  return ConstMatrixRef(pooled2_.topRows(rows_));
}

namespace {

// The CNN's options for `shape`; InvalidArgument unless the data set's rows are
// height·width·in_channels pixels.
absl::StatusOr<CnnOptions> CnnOptionsFor(CnnOptions o, const ModelShape& shape) {
  o.num_classes = shape.num_classes;
  if (o.height * o.width * o.in_channels != shape.num_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.height: the cnn expects images of height x width x in_channels = ", o.height, " x ",
        o.width, " x ", o.in_channels, " = ", o.height * o.width * o.in_channels,
        " features, but the data set has ", shape.num_features));
  }
  return o;
}

}  // namespace

const ModelDef& CnnDefinition() {
  using O = CnnOptions;
  static const ModelDef* def = new ModelDef(DefineModel<O>(
      "cnn",
      "paper 1's CNN: conv5x5(pad 2) -> ReLU -> maxpool2 -> conv5x5(pad 2) -> ReLU -> "
      "maxpool2 -> flatten -> Linear(-> classes); inputs are images in (C, H, W) order",
      spec::Binding<O>(
          {spec::Bind(&O::channels1, "channels1", spec::Closed(1, 4096),
                      "channels of the first convolution (paper: 32)"),
           spec::Bind(&O::channels2, "channels2", spec::Closed(1, 4096),
                      "channels of the second convolution (paper: 100)"),
           spec::Bind(&O::height, "height", spec::Closed(4, 4096), "image height"),
           spec::Bind(&O::width, "width", spec::Closed(4, 4096), "image width"),
           spec::Bind(&O::in_channels, "in_channels", spec::Closed(1, 4096), "input channels"),
           spec::Bind(&O::bias, "bias", "learn bias vectors"), DenseInitField(&O::init),
           ZeroHeadField(&O::zero_head)}),
      [](const O& given, const ModelShape& shape,
         uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
        absl::StatusOr<O> o = CnnOptionsFor(given, shape);
        if (!o.ok()) return o.status();
        return std::make_unique<CnnModel>(*o, seed);
      },
      [](const O& given, const ModelShape& shape) -> absl::StatusOr<ModelFootprint> {
        absl::StatusOr<O> o = CnnOptionsFor(given, shape);
        if (!o.ok()) return o.status();
        const CnnShape s = CnnShapeFor(*o);
        ModelFootprint f;
        f.parameters = s.num_params;
        f.buffer_reals_per_row = s.buffer_reals_per_row;
        // The im2col buffers cover a fixed block of examples, not the chunk.
        f.fixed_reals = s.block_reals;
        return f;
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
