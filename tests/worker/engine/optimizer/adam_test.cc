#include "worker/engine/optimizer/adam.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/worker/engine/optimizer/test_util.h"

namespace optbench::engine {
namespace {

TEST(AdamTest, FirstThreeStepsByHand) {
  // lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, theta0 = 1, gradients 0.5, -0.25, 0.
  // Step 1: m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25, so the step is
  //   lr * 0.5 / (0.5 + 1e-8) = 0.1 * (1 - 2e-8) (about lr * sign(g)): theta1 = 0.900000002.
  // Step 2: m = 0.9*0.05 - 0.1*0.25 = 0.02, v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225;
  //   bc1 = 0.19, bc2 = 0.001999; theta2 = theta1 - (0.1/0.19) * 0.02 /
  //   (sqrt(0.00031225)/sqrt(0.001999) + 1e-8) = 0.8733662987078463.
  // Step 3 (g = 0): m = 0.018, v = 0.0003119377500, bc1 = 0.271, bc2 = 0.002997001;
  //   theta3 = 0.8527783689874682 (the momentum keeps moving theta).
  TestParam p("w", Column({1.0}));
  Adam adam(AdamOptions{});
  const double grads[] = {0.5, -0.25, 0.0};
  const double expected[] = {0.900000002, 0.8733662987078463, 0.8527783689874682};
  for (int t = 0; t < 3; ++t) {
    p.grad(0, 0) = grads[t];
    adam.Step({p.slot()}, 0.1);
    EXPECT_NEAR(p.value(0, 0), expected[t], 1e-15) << "step " << t + 1;
  }
  EXPECT_NEAR(adam.state().tensors.at("w").at("exp_avg")(0, 0), 0.018, 1e-17);
  EXPECT_NEAR(adam.state().tensors.at("w").at("exp_avg_sq")(0, 0), 0.00031193775, 1e-17);
}

TEST(AdamTest, FirstStepIsAboutLrTimesSignForAnyScale) {
  TestParam p("w", Column({0.0, 0.0, 0.0, 0.0}));
  p.grad = Column({1e-3, -1e3, 7.0, 0.0});
  Adam adam(AdamOptions{});
  adam.Step({p.slot()}, 0.01);
  // m_hat = g, v_hat = g^2: the step is lr g / (|g| + eps), which is lr sign(g) unless |g| is
  // near eps.
  EXPECT_NEAR(p.value(0, 0), -0.01 * 1e-3 / (1e-3 + 1e-8), 1e-17);
  EXPECT_NEAR(p.value(1, 0), 0.01 * 1e3 / (1e3 + 1e-8), 1e-17);
  EXPECT_NEAR(p.value(2, 0), -0.01 * 7.0 / (7.0 + 1e-8), 1e-17);
  EXPECT_EQ(p.value(3, 0), 0.0);  // 0 / (0 + eps) = 0.
}

TEST(AdamTest, WithoutMomentumOrBiasCorrection) {
  // beta1 = 0 keeps no first moment (m = g); without bias correction:
  //   step 1: v = 0.001 * 0.25 = 0.00025, theta = 1 - 0.1 * 0.5 / (0.0158113883 + 1e-8)
  //         = -2.1622756601696427;
  //   step 2: v = 0.00031225, theta = theta1 + 0.1 * 0.25 / (0.0176705970 + 1e-8)
  //         = -0.7474968733739709.
  AdamOptions options;
  options.beta1 = 0;
  options.bias_correction = false;
  Adam adam(options);
  TestParam p("w", Column({1.0}));
  p.grad(0, 0) = 0.5;
  adam.Step({p.slot()}, 0.1);
  EXPECT_NEAR(p.value(0, 0), -2.1622756601696427, 1e-13);
  p.grad(0, 0) = -0.25;
  adam.Step({p.slot()}, 0.1);
  EXPECT_NEAR(p.value(0, 0), -0.7474968733739709, 1e-13);
  EXPECT_EQ(adam.state().tensors.at("w").count("exp_avg"), 0u);
  EXPECT_EQ(adam.state().tensors.at("w").count("exp_avg_sq"), 1u);
}

TEST(AdamTest, BetaOneZeroWithBiasCorrectionIsRmsPropCorrected) {
  // beta1 = 0: the first step is lr * g / (|g| + eps) again (v_hat = g^2).
  AdamOptions options;
  options.beta1 = 0;
  Adam adam(options);
  TestParam p("w", Column({0.0}));
  p.grad(0, 0) = -2.0;
  adam.Step({p.slot()}, 0.5);
  EXPECT_NEAR(p.value(0, 0), 0.5 * 2.0 / (2.0 + 1e-8), 1e-15);
}

TEST(AdamTest, StateIsKeyedBySlotId) {
  Adam adam(AdamOptions{});
  TestParam w("weight", Matrix::Ones(2, 3)), b("bias", Column({1.0, 2.0}));
  w.grad.setConstant(1.0);
  b.grad.setConstant(-1.0);
  adam.Step({w.slot(), b.slot()}, 0.1);
  ASSERT_EQ(adam.state().tensors.size(), 2u);
  EXPECT_EQ(adam.state().tensors.at("weight").at("exp_avg").rows(), 2);
  EXPECT_EQ(adam.state().tensors.at("weight").at("exp_avg").cols(), 3);
  EXPECT_EQ(adam.state().tensors.at("bias").at("exp_avg_sq").rows(), 2);
}

TEST(AdamTest, ConvergesOnAQuadratic) {
  TestParam p("w", Column({3.0, -1.0}));
  const Matrix target = Column({-1.0, 0.5});
  Adam adam(AdamOptions{});
  for (int t = 0; t < 3000; ++t) {
    p.grad = p.value - target;
    adam.Step({p.slot()}, 0.01);
  }
  EXPECT_TRUE(p.value.isApprox(target, 1e-3)) << p.value.transpose();
}

}  // namespace
}  // namespace optbench::engine
