// Edge cases of the optimizers added for issue 3 (and the elementwise ones they extend): zero
// gradients, sign(0) = 0, extreme gradient scales, and hyperparameters the catalog must reject
// with the field's name.
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using testing::ValidateTrainJob;

using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "extreme-scale checks run against the float64 engine");

struct Case {
  std::string name;
  spec::ParamMap params;
};

// Every elementwise optimizer, in a configuration that keeps momentum-like state.
std::vector<Case> Cases() {
  return {{"gd", {{"momentum", 0.9}, {"nesterov", true}}},
          {"sgd", {{"momentum", 0.9}}},
          {"adam", {{"amsgrad", true}}},
          {"adamw", {{"weight_decay", 0.0}}},
          {"adagrad", {}},
          {"rmsprop", {{"centered", true}, {"momentum", 0.9}}},
          {"sign_descent", {{"momentum", 0.9}}},
          {"normalized_gd", {{"momentum", 0.9}}},
          {"scaled_sign", {{"momentum", 0.9}}},
          {"signum", {{"lookahead", 0.5}}},
          {"lion", {}},
          {"adafactor", {{"beta1", 0.9}}},
          {"adafactor", {}}};
}

std::unique_ptr<Optimizer> Make(const Case& c) {
  absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(c.name, c.params);
  EXPECT_TRUE(opt.ok()) << c.name << ": " << opt.status();
  return opt.ok() ? *std::move(opt) : nullptr;
}

TEST(EdgeCaseTest, ZeroGradientsDoNotMoveAnything) {
  for (const Case& c : Cases()) {
    std::unique_ptr<Optimizer> opt = Make(c);
    ASSERT_NE(opt, nullptr);
    TestParam w("w", Matrix::Constant(3, 4, 0.5)), b("b", Column({1.0, -2.0, 0.0}));
    const Matrix w0 = w.value, b0 = b.value;
    for (int t = 0; t < 5; ++t) opt->Step({w.slot(), b.slot()}, 0.1);
    EXPECT_EQ(w.value, w0) << c.name;
    EXPECT_EQ(b.value, b0) << c.name;
  }
}

TEST(EdgeCaseTest, SignMethodsLeaveZeroGradientCoordinatesAlone) {
  // sign(0) = 0: a coordinate whose gradient has always been 0 (an absent class's row) keeps its
  // value; the others move by exactly lr on the first step.
  for (const char* name : {"signum", "lion", "sign_descent", "scaled_sign"}) {
    absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(name, {});
    ASSERT_TRUE(opt.ok()) << name;
    TestParam w("w", Matrix::Zero(2, 3));
    w.grad << 0.0, 0.0, 0.0, 3.0, -1e-12, 7.0;
    (*opt)->Step({w.slot()}, 0.01);
    const double scale = std::string(name) == "scaled_sign" ? 10.0 + 1e-12 : 1.0;
    EXPECT_EQ(w.value.row(0), Matrix::Zero(1, 3)) << name;
    EXPECT_DOUBLE_EQ(w.value(1, 0), -0.01 * scale) << name;
    EXPECT_DOUBLE_EQ(w.value(1, 1), 0.01 * scale) << name;
    EXPECT_DOUBLE_EQ(w.value(1, 2), -0.01 * scale) << name;
  }
}

TEST(EdgeCaseTest, HugeAndTinyGradientsStayFinite) {
  for (double g : {1e30, 1e-30}) {
    for (const Case& c : Cases()) {
      std::unique_ptr<Optimizer> opt = Make(c);
      ASSERT_NE(opt, nullptr);
      // From 0, so that even a step of lr * 1e-30 is visible.
      TestParam w("w", Matrix::Zero(2, 3)), b("b", Column({0.0, 0.0}));
      for (int t = 0; t < 5; ++t) {
        w.grad.setConstant(g);
        w.grad(0, 1) = -g;
        b.grad.setConstant(t % 2 == 0 ? g : -g);
        opt->Step({w.slot(), b.slot()}, 1e-3);
      }
      EXPECT_TRUE(w.value.allFinite()) << c.name << " g=" << g << "\n" << w.value;
      EXPECT_TRUE(b.value.allFinite()) << c.name << " g=" << g << "\n" << b.value;
      // Every method moves against the gradient's sign on the coordinates it keeps fixed.
      EXPECT_LT(w.value(0, 0), 0.0) << c.name << " g=" << g;
      EXPECT_GT(w.value(0, 1), 0.0) << c.name << " g=" << g;
    }
  }
}

TEST(EdgeCaseTest, AdaptiveMethodsAreScaleInvariant) {
  // Sign and Adam-type updates do not depend on the gradient's scale (away from eps): 1e20 and
  // 1e-3 times the same gradient give the same first step to within eps effects.
  for (const char* name : {"signum", "lion", "adam", "adafactor"}) {
    std::vector<Matrix> after;
    for (double scale : {1e-3, 1e20}) {
      absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(name, {});
      ASSERT_TRUE(opt.ok());
      TestParam w("w", Matrix::Constant(2, 3, 1.0));
      w.grad << 1.0, -2.0, 3.0, 0.5, 0.25, -4.0;
      w.grad *= scale;
      (*opt)->Step({w.slot()}, 0.01);
      after.push_back(w.value);
    }
    EXPECT_TRUE(after[0].isApprox(after[1], 1e-6)) << name << "\n" << after[0] << "\n" << after[1];
  }
}

TrainJob ValidSpec(const std::string& optimizer, const spec::ParamMap& params) {
  TrainJob spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.model.name = "linear";
  spec.optimizer.name = optimizer;
  spec.optimizer.params = params;
  return spec;
}

TEST(EdgeCaseTest, InvalidHyperparametersAreRejectedWithTheFieldName) {
  const struct {
    const char* optimizer;
    spec::ParamMap params;
    const char* message;
  } kBad[] = {
      {"sgd", {{"momentum", 1.0}}, "optimizer.momentum: 1 is out of range"},
      {"sgd", {{"nesterov", true}}, "optimizer.nesterov: true requires momentum > 0"},
      {"gd", {{"weight_decay", -0.1}}, "optimizer.weight_decay: -0.1 is out of range"},
      {"adam", {{"amsgrad", 1.0}}, "optimizer.amsgrad"},
      {"adamw", {{"beta2", 1.0}}, "optimizer.beta2: 1 is out of range"},
      {"adagrad", {{"eps", 0.0}}, "optimizer.eps: 0 is out of range"},
      {"adagrad", {{"initial_accumulator_value", -1.0}}, "optimizer.initial_accumulator_value"},
      {"rmsprop", {{"alpha", 1.0}}, "optimizer.alpha: 1 is out of range"},
      {"rmsprop", {{"centered", std::string("yes")}}, "optimizer.centered"},
      {"scaled_sign", {{"lr", 0.0}}, "optimizer.lr: 0 is out of range"},
      {"signum", {{"lookahead", 1.5}}, "optimizer.lookahead: 1.5 is out of range"},
      {"lion", {{"beta2", 1.0}}, "optimizer.beta2: 1 is out of range"},
      {"lion", {{"weight_decay", std::nan("")}}, "optimizer.weight_decay"},
      {"adafactor", {{"decay_rate", 0.0}}, "optimizer.decay_rate: 0 is out of range"},
      {"adafactor", {{"clip_threshold", 0.0}}, "optimizer.clip_threshold"},
      {"adafactor", {{"beta2", 0.9}}, "optimizer.beta2"},
  };
  for (const auto& bad : kBad) {
    absl::StatusOr<TrainJob> spec = ValidateTrainJob(ValidSpec(bad.optimizer, bad.params));
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << bad.message;
    EXPECT_THAT(spec.status().message(), HasSubstr(bad.message));
    absl::StatusOr<std::unique_ptr<Optimizer>> opt = MakeOptimizer(bad.optimizer, bad.params);
    EXPECT_EQ(opt.status().code(), absl::StatusCode::kInvalidArgument) << bad.message;
    EXPECT_THAT(opt.status().message(), HasSubstr(bad.message));
  }
  EXPECT_TRUE(ValidateTrainJob(ValidSpec("sgd", {{"nesterov", true}, {"momentum", 0.9}})).ok());
}

}  // namespace
}  // namespace optbench::engine
