// Model: the interface every trainable model implements (linear, mlp, cnn; transformers
// later). A model maps a chunk of examples to logits and back-propagates the loss gradient.
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_MODEL_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "worker/engine/run_job.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// One parameter tensor and its gradient, as optimizers see it. `id` is stable across runs and
// builds ("weight", "bias", later "layer1.weight"): optimizer state and checkpoints are keyed by
// it, never by address. `value` and `grad` have the same shape; a 1-D parameter of length n is
// n x 1. The pointers are owned by the model and stay valid for its lifetime.
// What a parameter is to the network, for routing it to an optimizer (paper 2 trains only hidden
// matrices with the optimizer under test and everything else with Adam; ALGORITHMS.md 2.2, 0.7).
enum class ParamRole {
  kHiddenMatrix,  // A 2-D weight between hidden layers (conv kernels flattened out x in*kh*kw).
  kEmbedding,     // Input / token / positional embedding tables.
  kOutputHead,    // The last layer's weight: row k belongs to class k.
  kVector,        // Biases, gains: 1-D parameters (stored n x 1).
};

struct ParamSlot {
  std::string id;
  Matrix* value = nullptr;
  Matrix* grad = nullptr;
  ParamRole role = ParamRole::kHiddenMatrix;
};

// A model over examples of num_inputs() features producing num_outputs() logits (one per
// class). Usage per chunk: Forward(x, logits), compute dL/dlogits in place, Backward(dlogits);
// gradients accumulate across chunks until ZeroGrad(). Single-threaded: not thread-safe.
class Model {
 public:
  virtual ~Model() = default;

  virtual int64_t num_inputs() const = 0;
  virtual int64_t num_outputs() const = 0;

  // logits (r x num_outputs) = f(x) for a chunk x (r x num_inputs, examples are rows), r >= 1.
  // `x` must stay alive and unchanged until the matching Backward (the model may keep a view of
  // it instead of a copy). `logits` must not alias `x`.
  virtual void Forward(const ConstMatrixRef& x, MatrixRef logits) = 0;

  // Adds the gradient of sum_ij dlogits_ij * logits_ij with respect to every parameter to its
  // slot's grad, for the chunk of the last Forward. dlogits is r x num_outputs (same r).
  // Precondition: a Forward since the last Backward.
  virtual void Backward(const ConstMatrixRef& dlogits) = 0;

  // All parameters, in a fixed order. The vector may be cached: ids and pointers never change.
  virtual std::vector<ParamSlot> Params() = 0;

  // Sets every gradient to zero.
  virtual void ZeroGrad() = 0;

  // The input of the output head (the kOutputHead slot, classes x h) for the chunk of the last
  // Forward: r x h, row i = the last hidden features h_i of example i (x itself for a linear
  // model). Used for the class-row statistics of ALGORITHMS.md 6.2. Valid between a Forward and
  // the next Forward or Backward. nullopt otherwise, and for a model that does not expose it (the
  // default).
  virtual std::optional<ConstMatrixRef> HeadInput() const { return std::nullopt; }

  // Model-specific statistics of a split at the current parameters (run_job.h Diagnostic), e.g.
  // paper 3's attention matrix and signal/noise alignments (ALGORITHMS.md 3.5). x: the split's
  // features (n x num_inputs), labels: its n labels in [0, num_classes). Appends to `out`; the
  // default reports nothing. May run its own forward passes (it is called at evaluation steps
  // only, after the trainer's passes), so it invalidates HeadInput and a pending Backward.
  virtual void Diagnostics(const ConstMatrixRef& /*x*/, absl::Span<const int32_t> /*labels*/,
                           int64_t /*num_classes*/, std::vector<Diagnostic>* /*out*/) {}
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_MODEL_H_
