// LinearModel: softmax regression, logits = x W^T + 1 b^T (ALGORITHMS.md 1.2; paper 1's linear
// model, fKunstner/class-imbalance-sgd-adam models/mlp.py without hidden layers). The gradients
// are the closed forms of ALGORITHMS.md 1.4: dW = dZ^T X, db = dZ^T 1 for dZ = dL/dlogits.
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_LINEAR_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_LINEAR_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "worker/engine/model/model.h"
#include "worker/engine/model/model_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

enum class LinearInit {
  kZeros,    // W = 0, b = 0: initial loss is exactly log(classes) under softmax cross-entropy.
  kUniform,  // W, b ~ Uniform(-1/sqrt(d), 1/sqrt(d)) (PyTorch nn.Linear's default).
};

// The catalog options of model "linear" (the shape comes from the data).
struct LinearOptions {
  bool bias = true;
  LinearInit init = LinearInit::kZeros;
};

// Slots: "weight" (classes x features), then "bias" (classes x 1) when `bias` is true.
// Not thread-safe.
class LinearModel : public Model {
 public:
  // Uniform init draws W row by row, then b, from Rng(seed, RngStream::kInit).
  // Preconditions: num_features >= 1, num_classes >= 1.
  LinearModel(int64_t num_features, int64_t num_classes, bool bias, LinearInit init, uint64_t seed);

  int64_t num_inputs() const override { return weight_.cols(); }
  int64_t num_outputs() const override { return weight_.rows(); }
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override;
  void Backward(const ConstMatrixRef& dlogits) override;
  // dx = dlogits W.
  bool InputGradient(const ConstMatrixRef& dlogits, MatrixRef dx) override;
  std::vector<ParamSlot> Params() override;
  void ZeroGrad() override;
  std::optional<ConstMatrixRef> HeadInput() const override;

  const Matrix& weight() const { return weight_; }
  const Matrix& bias() const { return bias_; }  // 0 x 1 when the model has no bias.

 private:
  Matrix weight_, weight_grad_;
  Matrix bias_, bias_grad_;
  bool has_bias_;
  // View of the last Forward's input (see Model::Forward): data, rows and outer stride.
  const Real* x_data_ = nullptr;
  Eigen::Index x_rows_ = 0;
  Eigen::Index x_stride_ = 0;
};

// The registered "linear" (provides kInputGradientCapability).
const ModelDef& LinearDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_LINEAR_H_
