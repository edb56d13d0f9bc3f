#include "worker/engine/dataset/heavy_tail_uniform.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace optbench::engine {
namespace {

TEST(HeavyTailUniformTest, SizesFollowTheFormulas) {
  // ALGORITHMS.md 1.1: n = m 2^m, d = (m+1) 2^m, c = 2^m - 1.
  const int64_t m = 3;
  const Dataset data = MakeHeavyTailUniform(m, /*data_seed=*/0);
  EXPECT_EQ(data.train().size(), 3 * 8);
  EXPECT_EQ(data.num_features(), 4 * 8);
  EXPECT_EQ(data.num_classes(), 7);
  EXPECT_FALSE(data.has_test());
  // Level 0: one class of 8; level 1: two of 4; level 2: four of 2.
  EXPECT_EQ(data.train().class_counts, (std::vector<int64_t>{8, 4, 4, 2, 2, 2, 2}));
  // Every level holds 2^m examples.
  for (int64_t level = 0; level < m; ++level) {
    int64_t total = 0;
    for (int64_t k = (1 << level) - 1; k < (2 << level) - 1; ++k) {
      total += data.train().class_counts[k];
    }
    EXPECT_EQ(total, 8) << "level " << level;
  }
  EXPECT_TRUE(std::is_sorted(data.train().labels.begin(), data.train().labels.end()));

  const HeavyTailUniformShape s8 = HeavyTailUniformShapeFor(8);
  EXPECT_EQ(s8.num_examples, 2048);  // The docstring's size table.
  EXPECT_EQ(s8.num_features, 2304);
  EXPECT_EQ(s8.num_classes, 255);
  const HeavyTailUniformShape s11 = HeavyTailUniformShapeFor(11);
  EXPECT_EQ(s11.num_examples, 22528);
  EXPECT_EQ(s11.num_features, 24576);
  EXPECT_EQ(s11.num_classes, 2047);
}

TEST(HeavyTailUniformTest, FeaturesAreUniformOnTheUnitInterval) {
  const Dataset data = MakeHeavyTailUniform(6, 0);
  const Matrix& x = data.train().features;
  EXPECT_GE(x.minCoeff(), 0.0);
  EXPECT_LT(x.maxCoeff(), 1.0);
  EXPECT_NEAR(x.mean(), 0.5, 0.005);  // 172k draws: the standard error is 0.0007.
  EXPECT_NEAR((x.array() - 0.5).square().mean(), 1.0 / 12.0, 0.002);
}

TEST(HeavyTailUniformTest, GenerationIsDeterministicPerSeed) {
  const Dataset a = MakeHeavyTailUniform(4, 5);
  const Dataset b = MakeHeavyTailUniform(4, 5);
  const Dataset c = MakeHeavyTailUniform(4, 6);
  EXPECT_EQ(a.train().features, b.train().features);
  EXPECT_EQ(a.train().labels, b.train().labels);
  EXPECT_NE(a.train().features, c.train().features);
  // The first feature is pinned: 24-bit uniforms are exact in float and double, so the float32
  // product sees the very same data as this float64 test.
  EXPECT_EQ(a.train().features(0, 0) * 0x1p24, std::floor(a.train().features(0, 0) * 0x1p24));
}

}  // namespace
}  // namespace optbench::engine
