// TransformerModel: a decoder-only language model over contexts of token ids (ALGORITHMS.md 1.2,
// 2.2), and paper 1's "last layer only" variant (frozen random features, only the output head is
// trained).
//
// Input: each row holds a context of T = num_inputs() token ids stored as Reals (exact integers
// in [0, V)); the label is the next token, V = num_outputs() = the vocabulary. Two output modes:
// the logits of the LAST position only (one prediction per row, the cross_entropy objective), or
// of EVERY position (all_positions: T predictions per row, row i·T + t predicting the token after
// position t; the sequence_cross_entropy objective — paper 1's and GPT-style training, which
// scores every position of a sequence).
//
// Full model (last_layer_only = false), h_t in R^d for positions t = 0..T-1:
//   h = E[x_t] + P[t]                                  (token embedding + positional encoding)
//   L pre-norm blocks: h = h + Attn(LN1(h)); h = h + W2 gelu(W1 LN2(h) + b1) + b2
//   logits = W LN_f(h_{T-1}) + b, or W LN_f(h_t) + b for every t   (head, V x d, not tied to E)
// Attn is causal multi-head attention with `heads` heads of d / heads dimensions, scores scaled by
// 1/sqrt(d_head), Q/K/V/O projections with biases (as GPT-2). GELU is the exact erf form (PyTorch's
// nn.GELU default). LayerNorm uses eps 1e-5 and the biased variance (as torch.nn.LayerNorm).
// (The key bias, kept for GPT-2 parity, has gradient exactly 0: it shifts every score of a query's
// row by the same amount, which softmax ignores.)
//
// last_layer_only (paper 1, ALGORITHMS.md 1.2): no MLP, no layer norm; blocks are h = h + Attn(h);
// embeddings, positional encoding and attention are frozen at their random initial values and are
// not parameters at all (Params() is only "head.weight" and "head.bias", so optimizers and
// gradient norms see only the head); Backward computes only the head gradients. The head input is
// then a fixed function of x, and training is a convex problem (softmax regression on features).
//
// last_layer_only caches the head input of each chunk it has computed, keyed by the chunk's token
// ids (a hash, then an exact comparison with a stored copy; never by buffer address, since the
// trainer refills one buffer for every chunk). Full-batch training sees the same chunks every step,
// so after the first step a step costs only the head's two GEMMs. Bounded by
// kTransformerFeatureCacheMaxReals; chunks beyond it (e.g. fresh mini-batches) are recomputed.
//
// Efficiency: the chunk's r·T positions are stacked as rows (row i·T + t = example i, position t)
// and every dense layer is one GEMM over them; attention is a T x T product per example and head.
// Only the last position feeds the head, so the last block computes its queries, attention output,
// residual and MLP for that position only (keys and values still cover all T positions); lower
// blocks need every position (measured at V = 2000, T = 16, d = 64, 2 heads, L = 2, MLP 256, 20,000
// rows, float32: 9.6 CPU-s per full-batch step with this, 15.3 without). Work buffers grow to the
// largest chunk and are reused.
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_TRANSFORMER_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_TRANSFORMER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model/model.h"
#include "worker/engine/model/model_def.h"
#include "worker/engine/random.h"

namespace optbench::engine {

// Shape options, precision independent (the memory estimate uses them without Eigen types).
struct TransformerOptions {
  int64_t context = 1;  // T: tokens per row (= the data set's features).
  int64_t vocab = 1;    // V: token ids in [0, V) and classes (= the data set's classes).
  int64_t d_model = 64;
  int64_t heads = 2;
  int64_t layers = 2;
  int64_t mlp_width = 256;
  bool sinusoidal = false;  // Fixed sin/cos positional encoding instead of a learned table.
  bool last_layer_only = false;
  bool zero_head = false;  // Head weight and bias start at 0: the initial loss is exactly log V.
  double init_std = 0.02;  // GPT-2's normal init of weights and embeddings.
  bool scale_residual = true;  // Residual projections (attn.o, mlp.proj) std / sqrt(2 L) (GPT-2).
  // Internal (not in the catalog): compute the last block for the last position only. Off only to
  // measure the saving and to test that it changes nothing.
  bool last_position_only = true;
  // Internal (set from ModelShape::outputs_per_example, not in the catalog): output every
  // position, T rows per example, for an objective that scores every position (paper 1's
  // language model); the last block then computes every position.
  bool all_positions = false;
};

// InvalidArgument naming the bad value unless the options describe a buildable model (sizes >= 1,
// d_model divisible by heads, init_std > 0).
absl::Status ValidateTransformerOptions(const TransformerOptions& o);

// Trainable parameters (the head only with last_layer_only).
int64_t TransformerParameterCount(const TransformerOptions& o);
// Reals of frozen tensors and work buffers per row of a chunk (activations kept for Backward,
// attention probabilities, gradient scratch), and fixed (per-model, not per-row) frozen Reals.
int64_t TransformerBufferRealsPerRow(const TransformerOptions& o);
int64_t TransformerFrozenReals(const TransformerOptions& o);

// last_layer_only keeps the features of chunks it has seen (see TransformerModel), at most this
// many Reals (token copies counted as one Real each): 64 MiB in float32.
inline constexpr int64_t kTransformerFeatureCacheMaxReals = int64_t{1} << 24;
// Reals of that cache once `rows` distinct rows have gone through Forward (0 for the full model).
int64_t TransformerFeatureCacheReals(const TransformerOptions& o, int64_t rows);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Slots, in order: "embed.token" (V x d) and "embed.position" (T x d, learned only) kEmbedding;
// per block l: "block<l>.ln1.gain", "block<l>.ln1.bias" (d x 1, kVector),
// "block<l>.attn.{q,k,v,o}.weight" (d x d, kHiddenMatrix) each followed by its ".bias" (kVector),
// "block<l>.ln2.gain", "block<l>.ln2.bias", "block<l>.mlp.fc.weight" (m x d),
// "block<l>.mlp.fc.bias", "block<l>.mlp.proj.weight" (d x m), "block<l>.mlp.proj.bias";
// "ln_f.gain", "ln_f.bias"; then "head.weight" (V x d, kOutputHead) and "head.bias" (V x 1,
// kVector). With last_layer_only only the two head slots exist. Not thread-safe.
class TransformerModel : public Model {
 public:
  // Initializes from Rng(seed, RngStream::kInit) in slot order (frozen tensors in the same order
  // as the full model's slots): weights and embeddings N(0, init_std^2) (residual projections
  // divided by sqrt(2 L) with scale_residual), biases 0, LayerNorm gains 1. With last_layer_only
  // the frozen features use unit-scale draws instead (embeddings N(0, 1) like torch's
  // nn.Embedding, attention weights N(0, 1/d): variance preserving), so that the head sees O(1)
  // features without a layer norm; init_std then only sets the head. Precondition:
  // ValidateTransformerOptions(options) is OK.
  TransformerModel(const TransformerOptions& options, uint64_t seed);
  TransformerModel(const TransformerModel&) = delete;  // blockwise_ points at its model.
  TransformerModel& operator=(const TransformerModel&) = delete;

  int64_t num_inputs() const override { return o_.context; }
  int64_t num_outputs() const override { return o_.vocab; }
  // Precondition: every entry of x is an integer in [0, V) (the `text` data set guarantees it;
  // the catalog refuses other data sets).
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override;
  void Backward(const ConstMatrixRef& dlogits) override;
  std::vector<ParamSlot> Params() override;
  void ZeroGrad() override;
  // The head's input, the final (normalized, unless last_layer_only) hidden state at the last
  // position of each example (r x d), or at every position with all_positions (r·T x d).
  std::optional<ConstMatrixRef> HeadInput() const override;
  // Blocks (ModelBlocks): block l is residual block l over every position (r·T rows); h_0 = the
  // token plus positional embeddings; the head block is the final norm and the head, applied to
  // every position. Null with last_layer_only (its blocks are frozen features, not parameters).
  ModelBlocks* Blocks() override;

  const TransformerOptions& options() const { return o_; }
  // Every tensor, trainable or frozen, by the slot ids above (frozen ones of the last_layer_only
  // variant included), for tests that load reference weights. Clears the feature cache, since the
  // caller may change frozen tensors through it.
  std::vector<ParamSlot> AllTensors();
  // The hidden state after the last block (before the final norm) of every position of the last
  // Forward, (r·T) x d, row i·T + t. Only when last_position_only is false (the last block then
  // computes every position); for causality tests.
  ConstMatrixRef FinalHiddenStates() const;

 private:
  struct Block {
    // Parameters and gradients (gradients unused, and kept empty, when frozen).
    Matrix ln1_gain, ln1_bias, wq, bq, wk, bk, wv, bv, wo, bo;
    Matrix ln2_gain, ln2_bias, w1, b1, w2, b2;
    Matrix g_ln1_gain, g_ln1_bias, g_wq, g_bq, g_wk, g_bk, g_wv, g_bv, g_wo, g_bo;
    Matrix g_ln2_gain, g_ln2_bias, g_w1, g_b1, g_w2, g_b2;
    // Activations of the last Forward. tq = positions per example whose output is computed (T,
    // or 1 for the last block). All-position buffers have r·T rows, query buffers r·tq rows.
    int64_t tq = 0;
    Matrix xhat1, a, k, v;  // LN1 normalized input, LN1 output, keys, values (r·T x d).
    Vector rstd1;           // 1 / sqrt(var + eps) per position (r·T).
    Matrix aq, q, y, h1;    // Query-row LN1 output (tq < T only), queries, heads' outputs,
                            // residual after attention (r·tq x d).
    Matrix probs;           // Attention probabilities: (r·heads·tq) x T, block (i, h) at row
                            // (i·heads + h)·tq; entries above the causal diagonal are 0.
    Matrix xhat2, b, u, g;  // LN2 normalized, LN2 output (r·tq x d), MLP pre-activation and
    Vector rstd2;           // GELU output (r·tq x m).
  };

  struct CachedFeatures {
    std::vector<int32_t> tokens;  // The chunk's r·T token ids.
    Matrix features;              // Its head input, r x d.
  };

  class Blockwise : public ModelBlocks {
   public:
    explicit Blockwise(TransformerModel* m) : m_(m) {}
    int64_t num_blocks() const override { return m_->o_.layers; }
    std::vector<std::string> BlockWeights(int64_t block) const override;
    void Embed(const ConstMatrixRef& x, Matrix* h0) override;
    void BlockForward(int64_t block, const ConstMatrixRef& in, Matrix* out) override;
    void BlockBackward(int64_t block, const ConstMatrixRef& dout) override;

   private:
    TransformerModel* m_;
    int64_t block_ = -1;  // Of the last BlockForward.
    Eigen::Index rows_ = 0;
    Matrix xhat_, feat_, dscratch_;  // The head block's normalized input and features.
    Vector rstd_;
  };

  std::vector<ParamSlot> Slots();
  // tokens_ = the ids of x (r x T; checked to be integers in [0, V)), row-major.
  void ReadTokens(const ConstMatrixRef& x);
  // h (tokens_.size() x d) = the embeddings of tokens_ plus their positional encodings.
  void EmbedTokens(MatrixRef h);
  void InitBlock(Block* blk, Rng* rng, bool frozen);
  // Runs block `l` on hs_[l] (r·T x d) into hs_[l + 1] (r·tq x d).
  void ForwardBlock(int64_t l, Eigen::Index r);
  // Given dout = dL/d(block output) (r·tq x d, clobbered), writes dL/d(block input) to din
  // (r·T x d) and accumulates the block's parameter gradients.
  void BackwardBlock(int64_t l, Eigen::Index r, MatrixRef dout, MatrixRef din);
  // Whether block `layer` computes only the last position's queries.
  bool LastPositionOnly(int64_t layer) const;

  TransformerOptions o_;
  int64_t d_head_ = 1;
  Matrix embed_, g_embed_;  // V x d.
  Matrix pos_, g_pos_;      // T x d (learned or sinusoidal; g_pos_ empty when sinusoidal).
  std::vector<Block> blocks_;
  Matrix lnf_gain_, lnf_bias_, g_lnf_gain_, g_lnf_bias_;  // d x 1 (unused with last_layer_only).
  Matrix head_, head_bias_, g_head_, g_head_bias_;        // V x d, V x 1.
  // hs_[0] = embeddings (r·T x d); hs_[l + 1] = block l's output (r·tq_l x d).
  std::vector<Matrix> hs_;
  Matrix xhatf_, feat_;  // Final LN's normalized input and output = head input (r x d).
  Vector rstdf_;
  std::vector<int32_t> tokens_;  // r·T token ids of the last Forward.
  // Backward scratch: gradients w.r.t. hidden states (r·T x d each) and inside a block.
  Matrix dh_a_, dh_b_, da_, dk_, dv_, dq_, dy_, du_, dxq_, dscore_;
  std::unordered_map<uint64_t, CachedFeatures> feature_cache_;  // last_layer_only only.
  int64_t cached_reals_ = 0;
  Eigen::Index rows_ = 0;  // r of the last Forward; 0 = no Forward pending.
  bool forward_done_ = false;
  // Set by Blockwise: every block computes every position (block outputs are compared there).
  bool every_position_ = false;
  Blockwise blockwise_{this};
};

// The registered "transformer": needs token rows, provides per-position outputs.
const ModelDef& TransformerDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_TRANSFORMER_H_
