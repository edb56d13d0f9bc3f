// ParamSlot: one parameter tensor and its gradient as optimizers, checkpoints and observers see
// it. Its own header so that optimizers need no model header and models no optimizer header.
#ifndef OPTBENCH_WORKER_ENGINE_PARAM_SLOT_H_
#define OPTBENCH_WORKER_ENGINE_PARAM_SLOT_H_

#include <string>

#include "worker/engine/tensor.h"

namespace optbench::engine {

// What a parameter is to the network, for routing it to an optimizer (paper 2 trains only hidden
// matrices with the optimizer under test and everything else with Adam; ALGORITHMS.md 2.2, 0.7).
enum class ParamRole {
  kHiddenMatrix,  // A 2-D weight between hidden layers (conv kernels flattened out x in*kh*kw).
  kEmbedding,     // Input / token / positional embedding tables.
  kOutputHead,    // The last layer's weight: row k belongs to class k.
  kVector,        // Biases, gains: 1-D parameters (stored n x 1).
};

inline namespace OPTBENCH_ENGINE_PRECISION {

// `id` is stable across runs and builds ("weight", "bias", "layer1.weight"): optimizer state and
// checkpoints are keyed by it, never by address. `value` and `grad` have the same shape; a 1-D
// parameter of length n is n x 1. The pointers are owned by the model and stay valid for its
// lifetime.
struct ParamSlot {
  std::string id;
  Matrix* value = nullptr;
  Matrix* grad = nullptr;
  ParamRole role = ParamRole::kHiddenMatrix;
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_PARAM_SLOT_H_
