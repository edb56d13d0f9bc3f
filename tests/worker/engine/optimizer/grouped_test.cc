#include "worker/engine/optimizer/grouped.h"

#include <cmath>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

// A hidden matrix, an output head and a bias with gradients that change every step.
struct ThreeSlots {
  ThreeSlots()
      : hidden("layer1.weight", Matrix::Constant(4, 3, 0.5)),
        head("head.weight", Matrix::Constant(3, 4, -0.25)),
        bias("head.bias", Column({0.1, -0.2, 0.3})) {}

  void SetGradients(int t) {
    for (TestParam* p : {&hidden, &head, &bias}) {
      for (Eigen::Index i = 0; i < p->grad.rows(); ++i) {
        for (Eigen::Index j = 0; j < p->grad.cols(); ++j) {
          p->grad(i, j) = std::sin(1.7 * t + 0.9 * i + 0.4 * j * (i + 1));
        }
      }
    }
  }
  ParamSlot Slot(TestParam& p, ParamRole role) {
    ParamSlot s = p.slot();
    s.role = role;
    return s;
  }
  std::vector<ParamSlot> All() {
    return {Slot(hidden, ParamRole::kHiddenMatrix), Slot(head, ParamRole::kOutputHead),
            Slot(bias, ParamRole::kVector)};
  }

  TestParam hidden, head, bias;
};

std::unique_ptr<Optimizer> Make(const std::string& name) {
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(name, {});
  EXPECT_TRUE(opt.ok()) << opt.status();
  return *std::move(opt);
}

TEST(GroupedOptimizerTest, RoutesByRoleBitIdenticalToSeparateOptimizers) {
  ThreeSlots grouped, separate;
  GroupedOptimizer opt(Make("muon"), /*main_lr_scale=*/1.0, Make("adam"), /*aux_lr_scale=*/0.5);
  std::unique_ptr<Optimizer> muon = Make("muon"), adam = Make("adam");
  for (int t = 1; t <= 6; ++t) {
    grouped.SetGradients(t);
    separate.SetGradients(t);
    opt.Step(grouped.All(), 0.02);
    std::vector<ParamSlot> all = separate.All();
    muon->Step({all[0]}, 0.02);
    adam->Step({all[1], all[2]}, 0.01);
    EXPECT_EQ(grouped.hidden.value, separate.hidden.value) << "step " << t;
    EXPECT_EQ(grouped.head.value, separate.head.value) << "step " << t;
    EXPECT_EQ(grouped.bias.value, separate.bias.value) << "step " << t;
  }
  // Muon's buffer for the hidden matrix; Adam's moments for the head and the bias.
  const OptimizerState& state = opt.state();
  EXPECT_EQ(state.step, 6);
  EXPECT_EQ(state.tensors.at("layer1.weight").count("momentum_buffer"), 1u);
  EXPECT_EQ(state.tensors.at("head.weight").count("exp_avg_sq"), 1u);
  EXPECT_EQ(state.tensors.at("head.bias").count("exp_avg_sq"), 1u);
  EXPECT_EQ(state.tensors.at("head.weight").count("momentum_buffer"), 0u);
  EXPECT_EQ(state.tensors.at("layer1.weight"), muon->state().tensors.at("layer1.weight"));
}

TEST(GroupedOptimizerTest, RestoredStateContinuesBitIdentically) {
  ThreeSlots a, b;
  absl::StatusOr<std::unique_ptr<Optimizer>> first = MakeGroupedOptimizer("soap", {}, "", {});
  ASSERT_TRUE(first.ok()) << first.status();
  for (int t = 1; t <= 4; ++t) {
    a.SetGradients(t);
    b.SetGradients(t);
    (*first)->Step(a.All(), 0.01);
  }
  // b replays the first four steps in another optimizer, then continues from a copy of a's state.
  b.hidden.value = a.hidden.value;
  b.head.value = a.head.value;
  b.bias.value = a.bias.value;
  absl::StatusOr<std::unique_ptr<Optimizer>> second = MakeGroupedOptimizer("soap", {}, "", {});
  ASSERT_TRUE(second.ok());
  *(*second)->mutable_state() = (*first)->state();
  for (int t = 5; t <= 8; ++t) {
    a.SetGradients(t);
    b.SetGradients(t);
    (*first)->Step(a.All(), 0.01);
    (*second)->Step(b.All(), 0.01);
  }
  EXPECT_EQ(a.hidden.value, b.hidden.value);
  EXPECT_EQ(a.head.value, b.head.value);
  EXPECT_EQ(a.bias.value, b.bias.value);
  EXPECT_EQ((*second)->state().step, 8);
}

TEST(GroupedOptimizerTest, Paper2AuxAdamDecaysOnlyTheHeadAndHiddenMatrices) {
  TestParam head("head", Matrix::Ones(2, 2)), emb("emb", Matrix::Ones(2, 2)),
      bias("bias", Column({1.0, 1.0}));
  std::vector<ParamSlot> slots = {head.slot(), emb.slot(), bias.slot()};
  slots[0].role = ParamRole::kOutputHead;
  slots[1].role = ParamRole::kEmbedding;
  slots[2].role = ParamRole::kVector;
  Paper2AuxAdam adam;
  adam.Step(slots, 0.5);  // Zero gradients: only the weight decay moves anything.
  EXPECT_EQ(head.value, Matrix::Constant(2, 2, 1.0 - 0.5 * 0.001));
  EXPECT_EQ(emb.value, Matrix::Ones(2, 2));
  EXPECT_EQ(bias.value, Column({1.0, 1.0}));
  // Betas (0.9, 0.99): after g = 1 then g = 0, m_hat = 0.09/0.19 and v_hat = 0.0099/0.0199.
  TestParam w("w", Column({0.0}));
  w.grad(0, 0) = 1.0;
  ParamSlot ws = w.slot();
  ws.role = ParamRole::kVector;
  Paper2AuxAdam adam2;
  adam2.Step({ws}, 1.0);
  w.grad(0, 0) = 0.0;
  adam2.Step({ws}, 1.0);
  const double second = (0.09 / 0.19) / (std::sqrt(0.0099 / 0.0199) + 1e-8);
  EXPECT_NEAR(w.value(0, 0), -1.0 / (1.0 + 1e-8) - second, 1e-12);
}

TEST(GroupedOptimizerTest, BuilderRejectsBadGroups) {
  EXPECT_THAT(MakeGroupedOptimizer("muonn", {}, "", {}).status().message(),
              HasSubstr("main optimizer: optimizer.name: unknown optimizer 'muonn'"));
  EXPECT_THAT(MakeGroupedOptimizer("muon", {}, "adam", {{"beta2", 1.0}}).status().message(),
              HasSubstr("aux optimizer: optimizer.beta2"));
  EXPECT_THAT(MakeGroupedOptimizer("muon", {}, "", {{"beta2", 0.9}}).status().message(),
              HasSubstr("parameters given without a name"));
  EXPECT_EQ(MakeGroupedOptimizer("muon", {}, "adam", {}, 0.0, 1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeGroupedOptimizer("shampoo", {{"variant", std::string("paper")}}, "adam",
                                   {{"beta1", 0.8}}, 1.0, 0.5)
                  .ok());
}

}  // namespace
}  // namespace optbench::engine
