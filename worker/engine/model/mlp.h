// MlpModel: a fully connected ReLU network, logits = W_L relu(... relu(W_0 x + b_0) ...) + b_L
// (ALGORITHMS.md 1.2; paper 1's models/mlp.py, which with no hidden layers is the linear model).
// Every layer is one GEMM per chunk; the work buffers grow to the largest chunk seen and are
// reused, so steady-state training does not allocate.
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_MLP_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_MLP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spec/options.h"
#include "worker/engine/model/model.h"
#include "worker/engine/model/model_def.h"
#include "worker/engine/random.h"

namespace optbench::engine {

// Initial weights of a layer with fan_in inputs and fan_out outputs.
enum class DenseInit {
  // PyTorch's nn.Linear / nn.Conv2d default (kaiming_uniform_ with a = sqrt(5)): weights and
  // biases ~ Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  kKaimingUniform,
  // Glorot & Bengio (2010): weights ~ Uniform(-sqrt(6/(fan_in + fan_out)), +same), biases 0.
  kXavierUniform,
};

// The "init" parameter of the dense models (mlp, cnn).
template <typename O>
spec::Field<O> DenseInitField(DenseInit O::*member) {
  return spec::BindChoice(member, "init",
                          {{"kaiming_uniform", DenseInit::kKaimingUniform},
                           {"xavier_uniform", DenseInit::kXavierUniform}},
                          "initial weights: kaiming_uniform = PyTorch's Linear/Conv2d default "
                          "U(+-1/sqrt(fan_in)) for weights and biases; xavier_uniform = "
                          "U(+-sqrt(6/(fan_in+fan_out))), biases 0");
}

inline namespace OPTBENCH_ENGINE_PRECISION {

// Fills `weight` (fan_out x fan_in) and `bias` (fan_out x 1, or 0 x 1 for none) as `init`
// prescribes, drawing from `rng` in row-major order, weight first. Shared with the CNN, whose
// kernels are out x (in·kh·kw) with fan_in = in·kh·kw.
void InitDense(DenseInit init, Rng* rng, Matrix* weight, Matrix* bias);

struct MlpOptions {
  int64_t num_inputs = 1;
  std::vector<int64_t> hidden = {256, 128};  // Hidden widths; empty = softmax regression.
  int64_t num_classes = 1;
  bool bias = true;
  DenseInit init = DenseInit::kKaimingUniform;
  bool zero_head = false;  // Output layer starts at 0: the initial loss is exactly log(classes).
};

// Slots, in order, for layers l = 0..L (L = hidden.size(); layer L is the output head):
// "layer<l>.weight" (out x in), then "layer<l>.bias" (out x 1) when options.bias. Roles: the
// output head's weight is kOutputHead; every other weight is kHiddenMatrix, the first layer's
// included (it reads raw pixels, but it is an ordinary dense matrix to a matrix-aware optimizer;
// only embedding tables are set apart in paper 2's setup); biases are kVector.
// ReLU'(0) = 0 (PyTorch's convention). Not thread-safe.
class MlpModel : public Model {
 public:
  // Initializes layer by layer from Rng(seed, RngStream::kInit) (InitDense); with zero_head the
  // output layer is then set to zero. Preconditions: num_inputs, num_classes, widths >= 1.
  MlpModel(const MlpOptions& options, uint64_t seed);
  MlpModel(const MlpModel&) = delete;  // blocks_ points at its model.
  MlpModel& operator=(const MlpModel&) = delete;

  int64_t num_inputs() const override { return weights_.front().cols(); }
  int64_t num_outputs() const override { return weights_.back().rows(); }
  void Forward(const ConstMatrixRef& x, MatrixRef logits) override;
  void Backward(const ConstMatrixRef& dlogits) override;
  // Back-propagates dlogits through the layers as Backward does (reusing its delta buffers),
  // down to dx = delta_0 W_0.
  bool InputGradient(const ConstMatrixRef& dlogits, MatrixRef dx) override;
  std::vector<ParamSlot> Params() override;
  void ZeroGrad() override;
  std::optional<ConstMatrixRef> HeadInput() const override;
  // Blocks: hidden layer l (Linear then ReLU) is block l; the head block is the output layer.
  // h_0 = x.
  ModelBlocks* Blocks() override { return &blocks_; }

  int64_t num_layers() const { return static_cast<int64_t>(weights_.size()); }
  const Matrix& weight(int64_t layer) const { return weights_[static_cast<size_t>(layer)]; }
  const Matrix& bias(int64_t layer) const { return biases_[static_cast<size_t>(layer)]; }

 private:
  // dL/d(output of layer l): dlogits for the head, else deltas_[l] (filled by DeltaBelow).
  ConstMatrixRef DeltaOf(size_t l, const ConstMatrixRef& dlogits) const;
  // deltas_[l - 1] = (delta W_l) through the ReLU of hidden layer l - 1 (a > 0 exactly where the
  // pre-activation was > 0). Precondition: l >= 1.
  void DeltaBelow(size_t l, const ConstMatrixRef& delta);
  std::vector<Matrix> weights_, weight_grads_;
  std::vector<Matrix> biases_, bias_grads_;  // 0 x 1 each when the model has no bias.
  bool has_bias_;
  // activations_[l] = relu(output of hidden layer l); deltas_[l] = dL/d(activations_[l]), masked
  // in place to dL/d(pre-activation). Capacity rows >= the largest chunk; rows_ are in use.
  std::vector<Matrix> activations_, deltas_;
  Eigen::Index rows_ = 0;
  // View of the last Forward's input (see Model::Forward): data and outer stride.
  const Real* x_data_ = nullptr;
  Eigen::Index x_stride_ = 0;

  class Blockwise : public ModelBlocks {
   public:
    explicit Blockwise(MlpModel* m) : m_(m) {}
    int64_t num_blocks() const override { return m_->num_layers() - 1; }
    std::vector<std::string> BlockWeights(int64_t block) const override;
    void Embed(const ConstMatrixRef& x, Matrix* h0) override { *h0 = x; }
    void BlockForward(int64_t block, const ConstMatrixRef& in, Matrix* out) override;
    void BlockBackward(int64_t block, const ConstMatrixRef& dout) override;

   private:
    MlpModel* m_;
    int64_t block_ = -1;  // Of the last BlockForward.
    const Real* in_data_ = nullptr;
    Eigen::Index in_rows_ = 0, in_stride_ = 0;
    Matrix delta_;  // dL/d(pre-activation).
    Matrix out_;    // The last output (its sign masks the ReLU's gradient).
  };
  Blockwise blocks_{this};
};

// The registered "mlp" (provides kInputGradientCapability).
const ModelDef& MlpDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_MLP_H_
