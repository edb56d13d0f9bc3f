#include "worker/engine/model/cnn.h"

#include <algorithm>

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
    s.col.resize(in * kKernel * kKernel, h * w);
    s.dcol.resize(in * kKernel * kKernel, h * w);
    s.conv.resize(out, h * w);
    s.dconv.resize(out, h * w);
    return s;
  };
  stage1_ = make_stage(options.in_channels, options.channels1, options.height, options.width);
  stage2_ =
      make_stage(options.channels1, options.channels2, shape.pooled1_height, shape.pooled1_width);
  head_ = Matrix::Zero(options.num_classes, shape.flat);
  head_grad_ = Matrix::Zero(options.num_classes, shape.flat);
  head_bias_ = Matrix::Zero(options.num_classes * b, 1);
  head_bias_grad_ = Matrix::Zero(options.num_classes * b, 1);
  dpooled1_.resize(options.channels1, shape.pooled1_height * shape.pooled1_width);
  Rng rng(seed, RngStream::kInit);
  InitDense(init, &rng, &stage1_.kernel, &stage1_.bias);
  InitDense(init, &rng, &stage2_.kernel, &stage2_.bias);
  InitDense(init, &rng, &head_, &head_bias_);
  if (zero_head) {
    head_.setZero();
    head_bias_.setZero();
  }
}

void CnnModel::Im2Col(const Stage& s, const Real* image, Matrix* col) {
  const int64_t h = s.height, w = s.width;
  for (int64_t c = 0; c < s.in_channels; ++c) {
    const Real* plane = image + c * h * w;
    for (int64_t i = 0; i < kKernel; ++i) {
      for (int64_t j = 0; j < kKernel; ++j) {
        Real* dst = col->row((c * kKernel + i) * kKernel + j).data();
        // Output x reads input x + j - kPad, in range for x in [x0, x1).
        const int64_t x0 = std::max<int64_t>(0, kPad - j);
        const int64_t x1 = std::min<int64_t>(w, w + kPad - j);
        for (int64_t y = 0; y < h; ++y, dst += w) {
          const int64_t sy = y + i - kPad;
          if (sy < 0 || sy >= h) {
            std::fill(dst, dst + w, Real{0});
            continue;
          }
          const Real* src = plane + sy * w + (j - kPad);
          std::fill(dst, dst + x0, Real{0});
          std::copy(src + x0, src + x1, dst + x0);
          std::fill(dst + x1, dst + w, Real{0});
        }
      }
    }
  }
}

void CnnModel::Col2ImAdd(const Stage& s, const Matrix& col, Real* image) {
  const int64_t h = s.height, w = s.width;
  for (int64_t c = 0; c < s.in_channels; ++c) {
    Real* plane = image + c * h * w;
    for (int64_t i = 0; i < kKernel; ++i) {
      for (int64_t j = 0; j < kKernel; ++j) {
        const Real* src = col.row((c * kKernel + i) * kKernel + j).data();
        const int64_t x0 = std::max<int64_t>(0, kPad - j);
        const int64_t x1 = std::min<int64_t>(w, w + kPad - j);
        for (int64_t y = 0; y < h; ++y, src += w) {
          const int64_t sy = y + i - kPad;
          if (sy < 0 || sy >= h) continue;
          Real* dst = plane + sy * w + (j - kPad);
          for (int64_t x = x0; x < x1; ++x) dst[x] += src[x];
        }
      }
    }
  }
}

void CnnModel::StageForward(Stage* s, const Real* image, Real* pooled, int32_t* argmax) {
  Im2Col(*s, image, &s->col);
  s->conv.noalias() = s->kernel * s->col;
  if (options_.bias) s->conv.colwise() += s->bias.col(0);
  // pool(relu(z)) = relu(pool(z)), and the first maximum of z in a window is the first maximum
  // of relu(z) whenever that maximum is positive (otherwise the gradient is 0 either way).
  const int64_t w = s->width, ph = s->pooled_height, pw = s->pooled_width;
  const int64_t plane = s->height * w;
  for (int64_t c = 0; c < s->out_channels; ++c) {
    const Real* z = s->conv.row(c).data();
    for (int64_t py = 0; py < ph; ++py) {
      for (int64_t px = 0; px < pw; ++px) {
        int64_t best = (2 * py) * w + 2 * px;
        const int64_t candidates[3] = {best + 1, best + w, best + w + 1};
        for (int64_t k : candidates) {
          if (z[k] > z[best]) best = k;
        }
        const int64_t out = (c * ph + py) * pw + px;
        pooled[out] = std::max(z[best], Real{0});
        argmax[out] = static_cast<int32_t>(c * plane + best);
      }
    }
  }
}

void CnnModel::StageBackward(Stage* s, const Real* image, const Real* pooled, const int32_t* argmax,
                             const Real* dpooled, Real* dimage) {
  s->dconv.setZero();
  const int64_t pooled_size = s->out_channels * s->pooled_height * s->pooled_width;
  Real* dz = s->dconv.data();
  for (int64_t k = 0; k < pooled_size; ++k) {
    if (pooled[k] > Real{0}) dz[argmax[k]] = dpooled[k];  // Windows do not overlap.
  }
  if (options_.bias) s->bias_grad.col(0) += s->dconv.rowwise().sum();
  Im2Col(*s, image, &s->col);  // Recomputed: storing it per example would cost in·25·h·w.
  s->kernel_grad.noalias() += s->dconv * s->col.transpose();
  if (dimage == nullptr) return;
  s->dcol.noalias() = s->kernel.transpose() * s->dconv;
  std::fill(dimage, dimage + s->in_channels * s->height * s->width, Real{0});
  Col2ImAdd(*s, s->dcol, dimage);
}

void CnnModel::Forward(const ConstMatrixRef& x, MatrixRef logits) {
  OPTBENCH_CHECK(x.cols() == num_inputs() && logits.rows() == x.rows() &&
                 logits.cols() == num_outputs());
  rows_ = x.rows();
  const int64_t size1 = stage1_.out_channels * stage1_.pooled_height * stage1_.pooled_width;
  const int64_t size2 = head_.cols();
  if (pooled1_.rows() < rows_) {
    // Grows once to the largest chunk; later chunks reuse the buffers.
    pooled1_.resize(rows_, size1);
    pooled2_.resize(rows_, size2);
    dpooled2_.resize(rows_, size2);
    argmax1_.resize(static_cast<size_t>(rows_ * size1));
    argmax2_.resize(static_cast<size_t>(rows_ * size2));
  }
  for (Eigen::Index e = 0; e < rows_; ++e) {
    StageForward(&stage1_, x.row(e).data(), pooled1_.row(e).data(), &argmax1_[e * size1]);
    StageForward(&stage2_, pooled1_.row(e).data(), pooled2_.row(e).data(), &argmax2_[e * size2]);
  }
  logits.noalias() = pooled2_.topRows(rows_) * head_.transpose();
  if (options_.bias) logits.rowwise() += head_bias_.col(0).transpose();
  x_data_ = x.data();
  x_stride_ = x.outerStride();
}

void CnnModel::Backward(const ConstMatrixRef& dlogits) {
  OPTBENCH_CHECK(x_data_ != nullptr && dlogits.rows() == rows_ && dlogits.cols() == num_outputs());
  const int64_t size1 = stage1_.out_channels * stage1_.pooled_height * stage1_.pooled_width;
  const int64_t size2 = head_.cols();
  head_grad_.noalias() += dlogits.transpose() * pooled2_.topRows(rows_);
  if (options_.bias) head_bias_grad_.col(0).transpose() += dlogits.colwise().sum();
  dpooled2_.topRows(rows_).noalias() = dlogits * head_;
  for (Eigen::Index e = 0; e < rows_; ++e) {
    StageBackward(&stage2_, pooled1_.row(e).data(), pooled2_.row(e).data(), &argmax2_[e * size2],
                  dpooled2_.row(e).data(), dpooled1_.data());
    StageBackward(&stage1_, x_data_ + e * x_stride_, pooled1_.row(e).data(), &argmax1_[e * size1],
                  dpooled1_.data(), nullptr);
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

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
