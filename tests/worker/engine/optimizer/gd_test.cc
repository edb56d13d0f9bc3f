#include "worker/engine/optimizer/gd.h"

#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"

namespace optbench::engine {
namespace {

TEST(GradientDescentTest, PlainStepIsMinusLrTimesGradient) {
  TestParam p("w", Column({1.0, -2.0}));
  GradientDescent gd(0.0);
  p.grad = Column({0.5, -4.0});
  gd.Step({p.slot()}, 0.1);
  EXPECT_DOUBLE_EQ(p.value(0, 0), 1.0 - 0.1 * 0.5);   // 0.95
  EXPECT_DOUBLE_EQ(p.value(1, 0), -2.0 + 0.1 * 4.0);  // -1.6
  EXPECT_TRUE(gd.state().tensors.empty());            // No buffer without momentum.
  EXPECT_EQ(gd.state().step, 1);
}

TEST(GradientDescentTest, HeavyBallFollowsThePyTorchConvention) {
  // mu = 0.9, lr = 0.1, gradients 1, 2, -1 on one coordinate starting at 0:
  //   b1 = g1 = 1                 theta1 = 0 - 0.1 * 1     = -0.1
  //   b2 = 0.9 * 1 + 2 = 2.9      theta2 = -0.1 - 0.29     = -0.39
  //   b3 = 0.9 * 2.9 - 1 = 1.61   theta3 = -0.39 - 0.161   = -0.551
  TestParam p("w", Column({0.0}));
  GradientDescent gd(0.9);
  const double grads[] = {1.0, 2.0, -1.0};
  const double expected[] = {-0.1, -0.39, -0.551};
  for (int t = 0; t < 3; ++t) {
    p.grad(0, 0) = grads[t];
    gd.Step({p.slot()}, 0.1);
    EXPECT_NEAR(p.value(0, 0), expected[t], 1e-15) << "step " << t + 1;
  }
  EXPECT_NEAR(gd.state().tensors.at("w").at("momentum_buffer")(0, 0), 1.61, 1e-15);
}

TEST(GradientDescentTest, ConvergesOnAQuadratic) {
  // f(theta) = 0.5 ||theta - target||^2: gradient theta - target, minimum at target.
  TestParam p("w", Column({5.0, -3.0}));
  const Matrix target = Column({1.0, 2.0});
  GradientDescent gd(0.5);
  for (int t = 0; t < 200; ++t) {
    p.grad = p.value - target;
    gd.Step({p.slot()}, 0.1);
  }
  EXPECT_TRUE(p.value.isApprox(target, 1e-10));
}

}  // namespace
}  // namespace optbench::engine
