// Model: the interface every trainable model implements (linear, mlp, cnn, transformer,
// attention2). A model maps a chunk of examples to outputs (logits) and back-propagates the
// objective's gradient (and, for some models, the gradient with respect to the input).
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_MODEL_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "worker/engine/param_slot.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// A statistic a model reports of itself at an evaluation beside the objective's per-class core
// (paper 3's attention diagnostics, ALGORITHMS.md 3.5): `values` has one entry (a scalar) or
// num_classes entries (per class: a mean over the class's examples). `name` is [a-z0-9_]+; the
// metric is declared (the model's ComponentSpec::metrics) as DiagnosticMetricName(name),
// "diag.<name>" (model_def.h).
struct Diagnostic {
  std::string name;
  std::vector<double> values;
};

// Block-wise access to a network, for post-training quantization (the quantize task,
// ALGORITHMS.md 5.2): the network as
//   x -> Embed -> h_0 -> block 0 -> h_1 -> ... -> block B-1 -> h_B -> head block -> logits,
// where a block is the unit whose output feeds the next (an MLP's hidden layer with its ReLU, a
// transformer's residual block) and the head block (index B = num_blocks()) maps h_B to logits.
// Hidden states have one row per unit of work: an example, or (transformer) one position of an
// example (r·T rows, row i·T + t); the head block then outputs every position's logits. Blocks
// run on the model's current parameter values, so writing quantized weights into a block's
// slots (Params()) changes what it computes. Not thread-safe.
class ModelBlocks {
 public:
  virtual ~ModelBlocks() = default;
  // B: the blocks between the embedding and the head.
  virtual int64_t num_blocks() const = 0;
  // The ids (Params() slots) of the dense weight matrices of block b in [0, B], b = B being the
  // head block: what quantization rounds. Biases, gains and embeddings are not listed.
  virtual std::vector<std::string> BlockWeights(int64_t block) const = 0;
  // h_0 for a chunk of examples x (r x num_inputs).
  virtual void Embed(const ConstMatrixRef& x, Matrix* h0) = 0;
  // out = block b applied to `in` (the rows of h_b for some examples, whole examples for the
  // transformer). Keeps what BlockBackward needs; `in` must stay alive and unchanged until then.
  virtual void BlockForward(int64_t block, const ConstMatrixRef& in, Matrix* out) = 0;
  // Adds the gradient of sum_ij dout_ij * out_ij with respect to block b's parameters to their
  // slots' grads, for the last BlockForward of that block. Precondition: it was the last
  // BlockForward call, and dout has its output's shape.
  virtual void BlockBackward(int64_t block, const ConstMatrixRef& dout) = 0;
};

// A model over examples of num_inputs() features producing num_outputs() logits (one per
// class) per output row: one row per example, or, for a model built to output every position of
// a token row (ModelShape::outputs_per_example = T, transformer), T rows per example (row i·T + t
// = example i, position t). Usage per chunk: Forward(x, logits), compute dL/dlogits in place,
// Backward(dlogits); gradients accumulate across chunks until ZeroGrad(). Single-threaded: not
// thread-safe.
class Model {
 public:
  virtual ~Model() = default;

  virtual int64_t num_inputs() const = 0;
  virtual int64_t num_outputs() const = 0;

  // logits (r·P x num_outputs, P output rows per example) = f(x) for a chunk x (r x num_inputs,
  // examples are rows), r >= 1.
  // `x` must stay alive and unchanged until the matching Backward (the model may keep a view of
  // it instead of a copy). `logits` must not alias `x`.
  virtual void Forward(const ConstMatrixRef& x, MatrixRef logits) = 0;

  // Adds the gradient of sum_ij dlogits_ij * logits_ij with respect to every parameter to its
  // slot's grad, for the chunk of the last Forward. dlogits has the logits' shape.
  // Precondition: a Forward since the last Backward.
  virtual void Backward(const ConstMatrixRef& dlogits) = 0;

  // The gradient with respect to the input: dx (r x num_inputs) = d(sum_ij dlogits_ij *
  // logits_ij) / dx for the chunk x of the last Forward, through every layer (the attacks of
  // attack.h need it). Parameter gradients are untouched and the Forward stays pending: a
  // Backward (with these or other dlogits) or another InputGradient may follow. Returns false,
  // writing nothing, for a model that does not implement it (the default); a model that does
  // declares the capability kInputGradientCapability (model_def.h). Preconditions: a Forward
  // since the last Backward; dlogits has the logits' shape; dx has x's shape and aliases neither
  // x nor dlogits.
  virtual bool InputGradient(const ConstMatrixRef& /*dlogits*/, MatrixRef /*dx*/) { return false; }

  // All parameters, in a fixed order. The vector may be cached: ids and pointers never change.
  virtual std::vector<ParamSlot> Params() = 0;

  // Sets every gradient to zero.
  virtual void ZeroGrad() = 0;

  // The input of the output head (the kOutputHead slot, classes x h) for the chunk of the last
  // Forward: one row per output row (r·P x h), row i = the last hidden features h_i of output
  // row i (x itself for a linear model). Used for the class-row statistics of ALGORITHMS.md 6.2.
  // Valid between a Forward and the next Forward or Backward. nullopt otherwise, and for a model
  // that does not expose it (the default).
  virtual std::optional<ConstMatrixRef> HeadInput() const { return std::nullopt; }

  // Model-specific statistics of a split at the current parameters (Diagnostic above), e.g.
  // paper 3's attention matrix and signal/noise alignments (ALGORITHMS.md 3.5). x: the split's
  // features (n x num_inputs), labels: its n labels in [0, num_classes). Appends to `out`; the
  // default reports nothing. May run its own forward passes (it is called at evaluation steps
  // only, after the trainer's passes), so it invalidates HeadInput and a pending Backward.
  // Block-wise access (ModelBlocks above), or null for a model without it (the default). The
  // object is owned by the model. Calling it invalidates a pending Backward and HeadInput.
  virtual ModelBlocks* Blocks() { return nullptr; }

  virtual void Diagnostics(const ConstMatrixRef& /*x*/, absl::Span<const int32_t> /*labels*/,
                           int64_t /*num_classes*/, std::vector<Diagnostic>* /*out*/) {}
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_MODEL_H_
