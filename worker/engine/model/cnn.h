// CnnModel: paper 1's CNN for MNIST-like images (ALGORITHMS.md 1.2; models/cnn.py of
// fKunstner/class-imbalance-sgd-adam): conv 5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 5x5 (pad 2)
// -> ReLU -> maxpool 2 -> flatten -> Linear(-> classes). The paper's widths are 1 -> 32 -> 100 on
// 28 x 28 inputs (flatten 100·7·7 = 4,900); here they are options so the model fits small CPUs.
// Convolutions are im2col + GEMM per example (Chellapilla et al. 2006; Caffe's layout).
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_CNN_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_CNN_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "worker/engine/model/mlp.h"
#include "worker/engine/model/model.h"

namespace optbench::engine {

struct CnnOptions {
  int64_t height = 28;
  int64_t width = 28;
  int64_t in_channels = 1;
  int64_t channels1 = 32;
  int64_t channels2 = 100;
  int64_t num_classes = 10;
  bool bias = true;
};

// Sizes derived from CnnOptions: each pool halves (rounding down, as PyTorch's MaxPool2d(2)).
struct CnnShape {
  int64_t pooled1_height, pooled1_width;  // After the first pool.
  int64_t pooled2_height, pooled2_width;  // After the second pool.
  int64_t flat;                           // channels2 · pooled2_height · pooled2_width.
  int64_t num_params;                     // Weights and biases.
  int64_t buffer_reals_per_row;           // Work buffers per example of a chunk.
};
// Precondition: every size >= 1, height and width >= 4.
CnnShape CnnShapeFor(const CnnOptions& options);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Inputs: each row of x is one image in channel-major (C, H, W) order, i.e. PyTorch's NCHW
// flattened per example (for one channel, the 28 x 28 pixels row by row). The flattened features
// fed to the head are in (channel, y, x) order, as torch.flatten of NCHW.
//
// Slots, in order: "conv1.weight" (channels1 x in_channels·25), "conv1.bias" (channels1 x 1),
// "conv2.weight" (channels2 x channels1·25), "conv2.bias", "head.weight" (classes x flat),
// "head.bias"; biases only when options.bias. A kernel row is PyTorch's weight[o] flattened in
// (in, kh, kw) order. Roles: kernels kHiddenMatrix, head weight kOutputHead, biases kVector.
// Max pooling sends the gradient to the first maximum of each window (PyTorch's rule on CPU);
// ReLU'(0) = 0. Work buffers grow to the largest chunk seen and are reused: about
// CnnShape::buffer_reals_per_row Reals per row. Not thread-safe.
class CnnModel : public Model {
 public:
  // Initializes conv1, conv2, then the head from Rng(seed, RngStream::kInit) with InitDense
  // (fan_in = in·25 for a kernel); zero_head then sets the head to zero.
  // Preconditions: as CnnShapeFor.
  CnnModel(const CnnOptions& options, DenseInit init, bool zero_head, uint64_t seed);

  int64_t num_inputs() const override { return in_size_ * options_.in_channels; }
  int64_t num_outputs() const override { return options_.num_classes; }
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override;
  void Backward(const ConstMatrixRef& dlogits) override;
  std::vector<ParamSlot> Params() override;
  void ZeroGrad() override;
  std::optional<ConstMatrixRef> HeadInput() const override;

 private:
  // One convolution stage over an (channels x h·w) image: conv 5x5 pad 2, + bias, ReLU, 2x2 max
  // pool. Pooled outputs and the flat index of each window's maximum are written per example.
  struct Stage {
    int64_t in_channels, out_channels, height, width, pooled_height, pooled_width;
    Matrix kernel, kernel_grad;  // out x in·25.
    Matrix bias, bias_grad;      // out x 1 (0 x 1 without bias).
    // Per-example scratch: im2col (in·25 x h·w), conv output and its gradient (out x h·w), and
    // the gradient of the im2col matrix.
    Matrix col, conv, dconv, dcol;
  };
  // col (in·25 x h·w) = im2col of `image` (in x h·w) for a 5x5 kernel with padding 2.
  static void Im2Col(const Stage& s, const Real* image, Matrix* col);
  // image (in x h·w) += col2im of `col`: the adjoint of Im2Col.
  static void Col2ImAdd(const Stage& s, const Matrix& col, Real* image);
  // Forward of one stage for one example: pooled (out x ph·pw) and argmax (same size).
  void StageForward(Stage* s, const Real* image, Real* pooled, int32_t* argmax);
  // Backward of one stage for one example given dL/d(pooled): adds the kernel and bias gradients
  // and, when `dimage` is not null, writes dL/d(image) (in x h·w).
  void StageBackward(Stage* s, const Real* image, const Real* pooled, const int32_t* argmax,
                     const Real* dpooled, Real* dimage);

  CnnOptions options_;
  int64_t in_size_;  // height · width.
  Stage stage1_, stage2_;
  Matrix head_, head_grad_;  // classes x flat.
  Matrix head_bias_, head_bias_grad_;
  // Per-chunk buffers (capacity rows >= the chunk; rows_ in use).
  Matrix pooled1_, pooled2_;  // r x c1·ph1·pw1, r x flat (pooled2_ is the head input).
  std::vector<int32_t> argmax1_, argmax2_;
  Matrix dpooled2_;  // r x flat.
  Matrix dpooled1_;  // Per-example scratch: c1 x ph1·pw1.
  Eigen::Index rows_ = 0;
  const Real* x_data_ = nullptr;
  Eigen::Index x_stride_ = 0;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_CNN_H_
