#include "worker/engine/dataset/zipf_gaussian.h"

#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace optbench::engine {
namespace {

TEST(ZipfGaussianTest, CountsFollowThePowerLaw) {
  const ZipfGaussianOptions options;  // c = 100, alpha = 1, min_samples = 10.
  const std::vector<int64_t> counts = ZipfTrainCounts(options);
  ASSERT_EQ(counts.size(), 100u);
  EXPECT_EQ(counts[0], 1000);  // ceil(10 * 100/1).
  EXPECT_EQ(counts[1], 500);   // ceil(10 * 100/2).
  EXPECT_EQ(counts[2], 334);   // ceil(10 * 33.33...).
  EXPECT_EQ(counts[6], 143);   // ceil(10 * 14.28...).
  EXPECT_EQ(counts[99], 10);
  ZipfGaussianOptions squared;
  squared.classes = 4;
  squared.alpha = 2;
  squared.min_samples = 3;
  EXPECT_EQ(ZipfTrainCounts(squared), (std::vector<int64_t>{48, 12, 6, 3}));  // 3 (4/k)^2.
  EXPECT_TRUE(ZipfTestCounts(options).empty());
  ZipfGaussianOptions with_test = options;
  with_test.test_fraction = 0.1;
  const std::vector<int64_t> test = ZipfTestCounts(with_test);
  EXPECT_EQ(test[0], 100);
  EXPECT_EQ(test[2], 34);  // ceil(33.4).
  EXPECT_EQ(test[99], 1);
}

TEST(ZipfGaussianTest, FeaturesAreOneHotPlusNoise) {
  ZipfGaussianOptions options;
  options.classes = 10;
  options.min_samples = 20;
  options.noise = 0.5;
  options.test_fraction = 0.5;
  const Dataset data = MakeZipfGaussian(options);
  EXPECT_EQ(data.num_classes(), 10);
  EXPECT_EQ(data.num_features(), 10);
  EXPECT_EQ(data.train().class_counts, ZipfTrainCounts(options));
  ASSERT_TRUE(data.has_test());
  EXPECT_EQ(data.test().class_counts, ZipfTestCounts(options));
  // x - e_y is N(0, 0.25 I).
  Matrix noise = data.train().features;
  for (int64_t i = 0; i < data.train().size(); ++i) noise(i, data.train().labels[i]) -= 1.0;
  EXPECT_NEAR(noise.mean(), 0.0, 0.03);  // About 4 standard errors (5860 draws).
  EXPECT_NEAR(std::sqrt(noise.array().square().mean()), 0.5, 0.02);
}

TEST(ZipfGaussianTest, GenerationIsDeterministicPerSeed) {
  ZipfGaussianOptions options;
  options.classes = 5;
  options.test_fraction = 0.2;
  const Dataset a = MakeZipfGaussian(options);
  const Dataset b = MakeZipfGaussian(options);
  options.data_seed = 1;
  const Dataset c = MakeZipfGaussian(options);
  EXPECT_EQ(a.train().features, b.train().features);
  EXPECT_EQ(a.test().features, b.test().features);
  EXPECT_NE(a.train().features, c.train().features);
  EXPECT_NE(a.train().features.topRows(5), a.test().features.topRows(5));
}

}  // namespace
}  // namespace optbench::engine
