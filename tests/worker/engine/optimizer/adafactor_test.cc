// Adafactor at either precision: a factored slot with a row and a column that get no gradient
// (dead units, absent classes) must step to finite values. In float32 the second-moment product
// r_i c_j of such a row and column is eps1^2 = 1e-60, which underflows to 0; taking the factors'
// inverse roots apart keeps 0 / 0 out of the update (found by the every-component test: an MLP
// on 8-example batches diverged at its first step).
#include "worker/engine/optimizer/adafactor.h"

#include "gtest/gtest.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

TEST(AdafactorTest, ARowAndAColumnWithoutGradientStayFinite) {
  auto optimizer = MakeOptimizer("adafactor", {});
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  Matrix value = Matrix::Constant(4, 3, 0.5);
  Matrix grad(4, 3);
  grad << 0.1, 0.0, -0.2,  //
      0.0, 0.0, 0.0,       // A row without gradient.
      0.3, 0.0, 0.05,      //
      -0.1, 0.0, 0.2;      // Column 1 has none either.
  ParamSlot slot{"w", &value, &grad, ParamRole::kHiddenMatrix};
  for (int step = 0; step < 3; ++step) {
    (*optimizer)->Step({slot}, 0.01);
    ASSERT_TRUE(value.allFinite()) << "step " << step << "\n" << value;
  }
  // Entries without gradient do not move; the others do.
  EXPECT_EQ(value(1, 0), Real{0.5});
  EXPECT_EQ(value(0, 1), Real{0.5});
  EXPECT_NE(value(0, 0), Real{0.5});
}

}  // namespace
}  // namespace optbench::engine
