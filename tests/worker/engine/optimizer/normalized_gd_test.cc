#include "worker/engine/optimizer/normalized_gd.h"

#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"

namespace optbench::engine {
namespace {

TEST(NormalizedGradientDescentTest, NormIsOverAllSlotsTogether) {
  // Gradients 3 (slot a) and (0, 4) (slot b): the global norm is 5, so u = (0.6), (0, 0.8) and
  // not each slot normalized on its own (which would give (1), (0, 1)).
  TestParam a("a", Column({0.0})), b("b", Column({0.0, 0.0}));
  a.grad = Column({3.0});
  b.grad = Column({0.0, 4.0});
  NormalizedGradientDescent ngd(0.0);
  ngd.Step({a.slot(), b.slot()}, 0.5);
  EXPECT_NEAR(a.value(0, 0), -0.3, 1e-15);
  EXPECT_EQ(b.value(0, 0), 0.0);
  EXPECT_NEAR(b.value(1, 0), -0.4, 1e-15);
}

TEST(NormalizedGradientDescentTest, ZeroGradientTakesNoStep) {
  TestParam a("a", Column({1.0, 2.0}));
  NormalizedGradientDescent ngd(0.0);
  ngd.Step({a.slot()}, 1.0);
  EXPECT_EQ(a.value, Column({1.0, 2.0}));
  EXPECT_TRUE(a.value.allFinite());
}

TEST(NormalizedGradientDescentTest, MomentumStartsFromTheFirstDirection) {
  // mu = 0.9, lr = 1: g1 = (3, 4) gives u1 = b1 = (0.6, 0.8); g2 = (0, -2) gives u2 = (0, -1),
  // b2 = 0.9 (0.6, 0.8) + (0, -1) = (0.54, -0.28); theta2 = -(b1 + b2) = (-1.14, -0.52).
  TestParam a("a", Column({0.0, 0.0}));
  NormalizedGradientDescent ngd(0.9);
  a.grad = Column({3.0, 4.0});
  ngd.Step({a.slot()}, 1.0);
  EXPECT_TRUE(a.value.isApprox(Column({-0.6, -0.8}), 1e-15));
  a.grad = Column({0.0, -2.0});
  ngd.Step({a.slot()}, 1.0);
  EXPECT_TRUE(a.value.isApprox(Column({-1.14, -0.52}), 1e-15));
}

}  // namespace
}  // namespace optbench::engine
