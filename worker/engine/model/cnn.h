// CnnModel: paper 1's CNN for MNIST-like images (ALGORITHMS.md 1.2; models/cnn.py of
// fKunstner/class-imbalance-sgd-adam): conv 5x5 (pad 2) -> ReLU -> maxpool 2 -> conv 5x5 (pad 2)
// -> ReLU -> maxpool 2 -> flatten -> Linear(-> classes). The paper's widths are 1 -> 32 -> 100 on
// 28 x 28 inputs (flatten 100·7·7 = 4,900); here they are options so the model fits small CPUs.
// Forward: each convolution is im2col + one GEMM per block of kCnnBlockRows examples (Chellapilla
// et al. 2006), with im2col rows = output pixels, so the im2col buffers have a fixed size whatever
// the trainer's chunk_rows. Backward: max pooling passes the gradient to one output of each 2x2
// window, so dL/dz has at most a quarter nonzeros; the kernel and input gradients are sums over
// those nonzeros of im2col rows and kernel rows (vector updates) instead of dense GEMMs.
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
  DenseInit init = DenseInit::kKaimingUniform;
  bool zero_head = false;  // The head starts at 0: the initial loss is exactly log(classes).
};

// Sizes derived from CnnOptions: each pool halves (rounding down, as PyTorch's MaxPool2d(2)).
struct CnnShape {
  int64_t pooled1_height, pooled1_width;  // After the first pool.
  int64_t pooled2_height, pooled2_width;  // After the second pool.
  int64_t flat;                           // channels2 · pooled2_height · pooled2_width.
  int64_t num_params;                     // Weights and biases.
  int64_t buffer_reals_per_row;           // Chunk buffers per example of a chunk.
  int64_t block_reals;                    // Fixed im2col work buffers (kCnnBlockRows examples).
};
// Examples per im2col block. The im2col matrix of one example is in·25·h·w Reals (19,600 for the
// first layer on 28 x 28, channels1·25·14·14 for the second), so a whole chunk of 4,096 rows would
// take gigabytes. One example already gives GEMMs of h·w = 784 rows; measured on the dense-GEMM
// version of this model (bench/cnn_step_bench.cc, 2,000 rows, float32), blocks of 1 and 4 ran
// equally fast, 8 5-10% slower, 32 20-40% slower (the block no longer fits in L2).
inline constexpr int64_t kCnnBlockRows = 4;
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
// ReLU'(0) = 0. Memory: chunk buffers (pooled activations, their argmax indices, the head's input
// gradient) grow to the largest chunk seen, CnnShape::buffer_reals_per_row Reals per row
// (2·channels1·h/2·w/2 + 3·flat; 5,488 at 8/16 channels on 28 x 28, 21 KiB per row in float32);
// the im2col, convolution and block-gradient buffers are CnnShape::block_reals Reals, allocated
// once at construction (0.34 M at 8/16 channels, 1.4 M at the paper's 32/100). No allocation in
// steady state. Not thread-safe.
class CnnModel : public Model {
 public:
  // Initializes conv1, conv2, then the head from Rng(seed, RngStream::kInit) with InitDense
  // (fan_in = in·25 for a kernel); zero_head then sets the head to zero.
  // Preconditions: as CnnShapeFor.
  CnnModel(const CnnOptions& options, uint64_t seed)
      : CnnModel(options, options.init, options.zero_head, seed) {}
  // The same with `init` and `zero_head` instead of the options' own.
  CnnModel(const CnnOptions& options, DenseInit init, bool zero_head, uint64_t seed);

  int64_t num_inputs() const override { return in_size_ * options_.in_channels; }
  int64_t num_outputs() const override { return options_.num_classes; }
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override;
  void Backward(const ConstMatrixRef& dlogits) override;
  std::vector<ParamSlot> Params() override;
  void ZeroGrad() override;
  std::optional<ConstMatrixRef> HeadInput() const override;

 private:
  // One convolution stage: conv 5x5 pad 2 over (in x h·w) images, + bias, ReLU, 2x2 max pool.
  struct Stage {
    int64_t in_channels, out_channels, height, width, pooled_height, pooled_width;
    Matrix kernel, kernel_grad;  // out x in·25.
    Matrix bias, bias_grad;      // out x 1 (0 x 1 without bias).
    std::vector<Real> padded;    // One input image with a zero border of 2: in x (h+4)·(w+4).
    int64_t plane() const { return height * width; }
    int64_t pooled_size() const { return out_channels * pooled_height * pooled_width; }
  };
  using MatrixMap = Eigen::Map<Matrix>;

  // col (n·h·w x in·25) = im2col of n images for a 5x5 kernel with padding 2: row (e, y, x) holds
  // the window centred on pixel (y, x) of image e in (in, kh, kw) order, so that a kernel row
  // times an im2col row is one convolution output. Image e (in x h·w, channel-major) starts at
  // images + e·stride.
  // Uses s->padded.
  static void Im2Col(Stage* s, const Real* images, Eigen::Index stride, int64_t n, MatrixMap col);
  // images = col2im of `col`: the adjoint of Im2Col (image e at images + e·stride).
  static void Col2Im(Stage* s, const MatrixMap& col, int64_t n, Real* images, Eigen::Index stride);
  // Given col = im2col of n images: conv (n·h·w x out) = col · kernel^T + bias; writes
  // max(max-pool(conv), 0) of example e to pooled + e·stride (out x ph·pw) and the index in
  // [0, h·w) of each window's first maximum to argmax + e·stride.
  void StageForward(const Stage& s, int64_t n, Real* pooled, int32_t* argmax, Eigen::Index stride);
  // Given dL/d(pooled) of n examples (laid out as in StageForward) and col = im2col of their
  // inputs, adds the kernel and bias gradients; with `dimages` not null, writes dL/d(images)
  // (example e at dimages + e·dstride). Overwrites the dcol buffer.
  void StageBackward(Stage* s, int64_t n, const Real* pooled, const int32_t* argmax,
                     const Real* dpooled, Eigen::Index stride, Real* dimages, Eigen::Index dstride);
  MatrixMap Col(const Stage& s, int64_t n) {
    return MatrixMap(col_.data(), n * s.plane(), s.in_channels * 25);
  }
  MatrixMap Dcol(const Stage& s, int64_t n) {
    return MatrixMap(dcol_.data(), n * s.plane(), s.in_channels * 25);
  }
  MatrixMap Conv(const Stage& s, int64_t n) {
    return MatrixMap(conv_.data(), n * s.plane(), s.out_channels);
  }

  CnnOptions options_;
  int64_t in_size_;  // height · width.
  Stage stage1_, stage2_;
  Matrix head_, head_grad_;  // classes x flat.
  Matrix head_bias_, head_bias_grad_;
  // Per-chunk buffers (capacity rows >= the chunk; rows_ in use).
  Matrix pooled1_, pooled2_;  // r x c1·ph1·pw1, r x flat (pooled2_ is the head input).
  std::vector<int32_t> argmax1_, argmax2_;
  Matrix dpooled2_;  // r x flat.
  // Per-block buffers (kCnnBlockRows examples), shared by both stages: im2col, its gradient, the
  // convolution output, dL/d(pooled1) of the block.
  std::vector<Real> col_, dcol_, conv_;
  Matrix dpooled1_;  // kCnnBlockRows x c1·ph1·pw1.
  Eigen::Index rows_ = 0;
  const Real* x_data_ = nullptr;
  Eigen::Index x_stride_ = 0;
};

// The registered "cnn".
const ModelDef& CnnDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_CNN_H_
