// Attention2Model: paper 3's two-layer transformer, single-head softmax attention with trainable
// query and key over two patches, then a mean linear readout of two value matrices, trained with
// the logistic loss (Li et al., ICLR 2025, "On the optimization and generalization of two-layer
// transformers with sign gradient descent"; ALGORITHMS.md 3.2), with the stage diagnostics of 3.5.
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_ATTENTION2_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_ATTENTION2_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "worker/engine/model/model.h"
#include "worker/engine/model/model_def.h"

namespace optbench::engine {

struct Attention2Options {
  int64_t d = 1;         // Patch dimension: examples are rows of 2d features [x1, x2].
  int64_t m_k = 10;      // Rows of W_Q and W_K (query/key width).
  int64_t m_v = 10;      // Rows of W_V+ and W_V- (value width).
  double sigma0 = 0.01;  // Initial weights ~ N(0, sigma0^2).
};

// Work buffer reals per chunk row of Attention2Model (for the memory estimate).
int64_t Attention2BufferRealsPerRow(const Attention2Options& options);

inline namespace OPTBENCH_ENGINE_PRECISION {

// For an example X = [x1, x2] (patches x_l in R^d) with label y (class 0 is y = -1, class 1 is
// y = +1, as noisy_patches.h):
//   score(l, a) = <W_K x_a, W_Q x_l>       (no 1/sqrt(m_k) scaling, as the paper)
//   S[l, :]     = softmax_a score(l, a)      (the 2x2 attention matrix; rows sum to 1)
//   z_l         = sum_a S[l, a] x_a
//   f(X)        = sum_l <v, z_l>,  v = mean of the rows of W_V+ minus mean of the rows of W_V-.
// The model emits the logits (-f/2, +f/2) for classes (y = -1, y = +1): their softmax
// cross-entropy is exactly the logistic loss log(1 + exp(-y f)), so the engine's loss, metrics and
// argmax (class 1 iff f > 0) apply unchanged. There is no output head (HeadInput stays nullopt).
//
// Slots, in order, all kHiddenMatrix and all d columns: "query.weight" W_Q (m_k x d),
// "key.weight" W_K (m_k x d), "value_pos.weight" W_V+ (m_v x d), "value_neg.weight" W_V-
// (m_v x d). Initialized in that order, row-major, from N(0, sigma0^2) with Rng(seed,
// RngStream::kInit). Gradients are the manual ones of ALGORITHMS.md 3.2, over the chunk with
// r x m_k GEMMs. Work buffers grow to the largest chunk seen and are reused. Not thread-safe.
class Attention2Model : public Model {
 public:
  // Preconditions (checked): d, m_k, m_v >= 1; sigma0 >= 0.
  Attention2Model(const Attention2Options& options, uint64_t seed);

  int64_t num_inputs() const override { return 2 * d_; }
  int64_t num_outputs() const override { return 2; }
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override;
  void Backward(const ConstMatrixRef& dlogits) override;
  std::vector<ParamSlot> Params() override;
  void ZeroGrad() override;

  // Paper 3's stage diagnostics (ALGORITHMS.md 3.4, 3.5, 6.3) of the split `x` (n x 2d, n >= 1)
  // with `labels` in {0, 1}; num_classes must be 2. mu and the noise patches are read off the
  // data: xi_i = x2_i, and mu = (1/n) sum_i y_i x1_i, which is exactly mu for noisy_patches
  // (every x1_i = y_i mu) and the class-mean signal direction for other data. Per class (two
  // values: the mean over the class's examples, 0 for a class with none):
  //   attn_11, attn_12, attn_21, attn_22  S[l, a] (attn_21: the noise query on the signal key);
  //   value_noise              y_i <v, xi_i>;
  //   qk_noise_sign_agreement  fraction of neurons s with sign<w_Q,s, xi_i> = sign<w_K,s, xi_i>
  //                            (sign(0) = 0);
  //   query_noise_abs, key_noise_abs  mean over s of |<w_Q,s, xi_i>|, |<w_K,s, xi_i>|.
  // Scalars: query_signal, key_signal (mean over s of <w_Q,s, mu>, <w_K,s, mu>), query_signal_abs,
  // key_signal_abs (mean over s of |.|), value_signal = <v, mu>, v_norm = ||v||_2.
  // Runs forward passes in chunks of the largest chunk seen so far (256 if none), so it needs no
  // buffers beyond training's; leaves the gradients untouched and invalidates a pending Backward.
  void Diagnostics(const ConstMatrixRef& x, absl::Span<const int32_t> labels, int64_t num_classes,
                   std::vector<Diagnostic>* out) override;

  const Matrix& query() const { return w_q_; }
  const Matrix& key() const { return w_k_; }
  const Matrix& value_pos() const { return w_vp_; }
  const Matrix& value_neg() const { return w_vn_; }

 private:
  // Computes v_ and, for the r rows of x, the projections, softmax rows and <v, x_a> into the
  // buffers (grown to r rows if needed).
  void ForwardChunk(const ConstMatrixRef& x);

  int64_t d_;
  Matrix w_q_, w_k_, w_vp_, w_vn_;
  Matrix g_q_, g_k_, g_vp_, g_vn_;
  Vector v_;       // d: mean row of W_V+ minus mean row of W_V-, set by ForwardChunk.
  Vector grad_v_;  // d: dL/dv in Backward.
  // Chunk buffers, capacity rows >= the largest chunk; rows_ in use. q1_ = X1 W_Q^T, q2_ =
  // X2 W_Q^T, k1_, k2_ likewise with W_K (r x m_k); work_ (r x m_k) holds the backward's row
  // weights. cols_ is r x kCols (attention2.cc): S[l, a] each computed directly (1 - S[l, 1]
  // would round a tiny S[l, 2] to 0), <v, x_a>, and Backward's per-row scalars.
  Matrix q1_, q2_, k1_, k2_, work_, cols_;
  Eigen::Index rows_ = 0;
  // View of the last Forward's input (see Model::Forward): data and outer stride.
  const Real* x_data_ = nullptr;
  Eigen::Index x_stride_ = 0;
};

// The registered "attention2", with its diagnostics (ALGORITHMS.md 3.5) declared as metrics.
const ModelDef& Attention2Definition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_ATTENTION2_H_
