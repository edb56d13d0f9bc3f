#include "worker/engine/optimizer/sign_descent.h"

#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"

namespace optbench::engine {
namespace {

TEST(SignDescentTest, StepsBySignWithSignOfZeroZero) {
  TestParam p("w", Column({1.0, 1.0, 1.0}));
  p.grad = Column({0.3, 0.0, -2.0});
  SignDescent sign(0.0);
  sign.Step({p.slot()}, 0.1);
  EXPECT_DOUBLE_EQ(p.value(0, 0), 0.9);
  EXPECT_DOUBLE_EQ(p.value(1, 0), 1.0);  // sign(0) = 0: untouched.
  EXPECT_DOUBLE_EQ(p.value(2, 0), 1.1);
}

TEST(SignDescentTest, MomentumAccumulatesSignsNotGradients) {
  // mu = 0.5, lr = 1, theta0 = 0:
  //   g1 = (0.3, 0, -2):  b1 = u1 = (1, 0, -1),                         theta1 = (-1, 0, 1)
  //   g2 = (-5, 0, -1e-9): u2 = (-1, 0, -1), b2 = 0.5 b1 + u2 = (-0.5, 0, -1.5),
  //                                                               theta2 = (-0.5, 0, 2.5)
  //   g3 = (0, 0, 0):      b3 = 0.5 b2 = (-0.25, 0, -0.75),       theta3 = (-0.25, 0, 3.25)
  TestParam p("w", Column({0.0, 0.0, 0.0}));
  SignDescent sign(0.5);
  p.grad = Column({0.3, 0.0, -2.0});
  sign.Step({p.slot()}, 1.0);
  EXPECT_EQ(p.value, Column({-1.0, 0.0, 1.0}));
  p.grad = Column({-5.0, 0.0, -1e-9});
  sign.Step({p.slot()}, 1.0);
  EXPECT_EQ(p.value, Column({-0.5, 0.0, 2.5}));
  p.grad.setZero();
  sign.Step({p.slot()}, 1.0);
  EXPECT_EQ(p.value, Column({-0.25, 0.0, 3.25}));
}

TEST(SignDescentTest, ReachesAQuadraticsMinimumWithinOneStep) {
  // Constant-step sign descent ends oscillating within lr of the minimum in every coordinate.
  TestParam p("w", Column({2.0, -3.0}));
  const Matrix target = Column({0.5, 0.25});
  SignDescent sign(0.0);
  for (int t = 0; t < 100; ++t) {
    p.grad = p.value - target;
    sign.Step({p.slot()}, 0.1);
  }
  EXPECT_LE((p.value - target).cwiseAbs().maxCoeff(), 0.1 + 1e-12);
}

}  // namespace
}  // namespace optbench::engine
