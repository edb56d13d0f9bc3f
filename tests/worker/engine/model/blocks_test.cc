// Block-wise access (Model::Blocks, ModelBlocks): chaining Embed, the blocks and the head block
// reproduces Forward, and BlockBackward is the gradient of sum(dout * out) by finite differences.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/mlp.h"
#include "worker/engine/model/transformer.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::CheckGradient;
using ::optbench::testing::GradientCheckResult;
using ::optbench::testing::GradientSlot;
using ::optbench::testing::GradientTolerance;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

Matrix Gaussian(int64_t rows, int64_t cols, uint64_t seed) {
  Rng rng(seed);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Real>(rng.Normal());
  return m;
}

Matrix Tokens(int64_t rows, const TransformerOptions& o, uint64_t seed) {
  Rng rng(seed);
  Matrix x(rows, o.context);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    x.data()[i] = static_cast<Real>(rng.UniformInt(static_cast<uint64_t>(o.vocab)));
  }
  return x;
}

TransformerOptions SmallTransformer() {
  TransformerOptions o;
  o.context = 5;
  o.vocab = 11;
  o.d_model = 8;
  o.heads = 2;
  o.layers = 2;
  o.mlp_width = 12;
  o.init_std = 0.3;
  o.all_positions = true;  // Forward outputs every position, as the head block does.
  return o;
}

// h_B through every block, then the head block's logits.
Matrix ChainBlocks(ModelBlocks* blocks, const Matrix& x) {
  Matrix h, next;
  blocks->Embed(x, &h);
  for (int64_t b = 0; b <= blocks->num_blocks(); ++b) {
    blocks->BlockForward(b, h, &next);
    h = next;
  }
  return h;
}

// The gradient of f = sum(dout .* block_b(in)) with respect to the block's dense weights by
// BlockBackward, against central differences of f.
void CheckBlockGradient(Model* model, int64_t block, const Matrix& in, uint64_t seed) {
  ModelBlocks* blocks = model->Blocks();
  Matrix out;
  blocks->BlockForward(block, in, &out);
  const Matrix dout = Gaussian(out.rows(), out.cols(), seed);
  model->ZeroGrad();
  blocks->BlockBackward(block, dout);
  std::vector<GradientSlot> slots;
  std::vector<Matrix> analytic;
  const std::vector<std::string> ids = blocks->BlockWeights(block);
  analytic.reserve(ids.size());
  for (const ParamSlot& p : model->Params()) {
    for (const std::string& id : ids) {
      if (p.id != id) continue;
      analytic.push_back(*p.grad);
      slots.push_back({p.id, p.value, &analytic.back()});
    }
  }
  ASSERT_EQ(slots.size(), ids.size());
  const GradientCheckResult r = CheckGradient(
      slots,
      [&] {
        Matrix o;
        blocks->BlockForward(block, in, &o);
        return static_cast<double>((o.array() * dout.array()).sum());
      },
      GradientTolerance{1e-6, 1e-7, 1e-6});
  EXPECT_TRUE(r.ok());
  EXPECT_GT(r.max_abs_numeric, 1e-3);  // Not vacuous.
}

TEST(MlpBlocksTest, ChainReproducesForwardAndNamesOneWeightPerLayer) {
  MlpOptions o;
  o.num_inputs = 7;
  o.hidden = {6, 5};
  o.num_classes = 4;
  MlpModel model(o, 3);
  ModelBlocks* blocks = model.Blocks();
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(blocks->num_blocks(), 2);
  EXPECT_EQ(blocks->BlockWeights(0), std::vector<std::string>{"layer0.weight"});
  EXPECT_EQ(blocks->BlockWeights(2), std::vector<std::string>{"layer2.weight"});
  const Matrix x = Gaussian(9, 7, 1);
  Matrix logits(9, 4);
  model.Forward(x, logits);
  const Matrix chained = ChainBlocks(blocks, x);
  EXPECT_EQ(chained, logits);  // The same GEMMs in the same order: bit-identical.
}

TEST(MlpBlocksTest, BlockBackwardMatchesFiniteDifferences) {
  MlpOptions o;
  o.num_inputs = 7;
  o.hidden = {6, 5};
  o.num_classes = 4;
  MlpModel model(o, 3);
  const Matrix x = Gaussian(9, 7, 1);
  Matrix h0, h1;
  model.Blocks()->Embed(x, &h0);
  model.Blocks()->BlockForward(0, h0, &h1);
  const Matrix h1_copy = h1;
  CheckBlockGradient(&model, 0, h0, 10);       // Linear + ReLU.
  CheckBlockGradient(&model, 1, h1_copy, 11);  // Its input has exact zeros (ReLU).
  Matrix h2;
  model.Blocks()->BlockForward(1, h1_copy, &h2);
  CheckBlockGradient(&model, 2, h2, 12);  // The head: no ReLU.
}

TEST(TransformerBlocksTest, ChainReproducesForwardAtEveryPosition) {
  const TransformerOptions o = SmallTransformer();
  TransformerModel model(o, 5);
  ModelBlocks* blocks = model.Blocks();
  ASSERT_NE(blocks, nullptr);
  EXPECT_EQ(blocks->num_blocks(), 2);
  EXPECT_EQ(blocks->BlockWeights(1).size(), 6u);
  EXPECT_EQ(blocks->BlockWeights(1)[0], "block1.attn.q.weight");
  EXPECT_EQ(blocks->BlockWeights(2), std::vector<std::string>{"head.weight"});
  const Matrix x = Tokens(4, o, 2);
  Matrix logits(4 * o.context, o.vocab);
  model.Forward(x, logits);
  const Matrix chained = ChainBlocks(blocks, x);
  ASSERT_EQ(chained.rows(), logits.rows());
  EXPECT_LT((chained - logits).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(TransformerBlocksTest, BlocksComputeEveryPositionForALastPositionModel) {
  // The product model outputs the last position only and computes its last block for that
  // position alone; blocks still cover every position.
  TransformerOptions o = SmallTransformer();
  o.all_positions = false;
  TransformerModel model(o, 5);
  const Matrix x = Tokens(3, o, 2);
  Matrix logits(3, o.vocab);
  model.Forward(x, logits);
  const Matrix chained = ChainBlocks(model.Blocks(), x);
  ASSERT_EQ(chained.rows(), 3 * o.context);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_LT((chained.row(i * o.context + o.context - 1) - logits.row(i)).cwiseAbs().maxCoeff(),
              1e-12);
  }
}

TEST(TransformerBlocksTest, BlockBackwardMatchesFiniteDifferences) {
  const TransformerOptions o = SmallTransformer();
  TransformerModel model(o, 5);
  const Matrix x = Tokens(3, o, 2);
  Matrix h0, h1, h2;
  model.Blocks()->Embed(x, &h0);
  model.Blocks()->BlockForward(0, h0, &h1);
  model.Blocks()->BlockForward(1, h1, &h2);
  CheckBlockGradient(&model, 0, h0, 20);
  CheckBlockGradient(&model, 1, h1, 21);
  CheckBlockGradient(&model, 2, h2, 22);  // Final norm and head.
}

// ModelDef::block_weights (what submission checks) lists what the built model's blocks hold: the
// same ids in the same blocks, each with its parameter's column count as its inputs.
void ExpectDeclaredBlockWeightsMatchTheModel(const std::string& name, const spec::ParamMap& given,
                                             const ModelShape& shape) {
  SCOPED_TRACE(name);
  absl::StatusOr<spec::ParamMap> params =
      Catalog().ValidateComponent(spec::ComponentKind::kModel, name, given);
  ASSERT_TRUE(params.ok()) << params.status();
  const ModelDef& def = FindModel(name);
  ASSERT_TRUE(def.block_weights);
  absl::StatusOr<std::unique_ptr<Model>> model = def.build(*params, shape, 3);
  ASSERT_TRUE(model.ok()) << model.status();
  ModelBlocks* blocks = (*model)->Blocks();
  ASSERT_NE(blocks, nullptr);
  std::vector<BlockWeight> built;
  const std::vector<ParamSlot> slots = (*model)->Params();
  for (int64_t b = 0; b <= blocks->num_blocks(); ++b) {
    for (const std::string& id : blocks->BlockWeights(b)) {
      const auto it =
          std::find_if(slots.begin(), slots.end(), [&](const ParamSlot& p) { return p.id == id; });
      ASSERT_NE(it, slots.end()) << id;
      built.push_back({id, b, static_cast<int64_t>(it->value->cols())});
    }
  }
  EXPECT_EQ(def.block_weights(*params, shape), built);
  EXPECT_EQ(def.spec.blocks(*params), blocks->num_blocks());
}

TEST(BlockWeightsTest, DeclaredWeightsAreTheBuiltModelsBlocks) {
  ExpectDeclaredBlockWeightsMatchTheModel("mlp", {{"hidden", std::vector<int64_t>{7, 5, 3}}},
                                          ModelShape{9, 4, 1});
  ExpectDeclaredBlockWeightsMatchTheModel("mlp", {{"hidden", std::vector<int64_t>{}}},
                                          ModelShape{9, 4, 1});
  ExpectDeclaredBlockWeightsMatchTheModel("transformer",
                                          {{"layers", int64_t{2}},
                                           {"d_model", int64_t{8}},
                                           {"heads", int64_t{2}},
                                           {"mlp_width", int64_t{12}}},
                                          ModelShape{5, 11, 5});
  // A last-layer-only transformer declares none, as it has no blocks.
  absl::StatusOr<spec::ParamMap> last = Catalog().ValidateComponent(
      spec::ComponentKind::kModel, "transformer", {{"last_layer_only", true}});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(FindModel("transformer").block_weights(*last, ModelShape{5, 11, 1}).empty());
}

TEST(TransformerBlocksTest, LastLayerOnlyHasNoBlocks) {
  TransformerOptions o = SmallTransformer();
  o.last_layer_only = true;
  TransformerModel model(o, 5);
  EXPECT_EQ(model.Blocks(), nullptr);
}

}  // namespace
}  // namespace optbench::engine
