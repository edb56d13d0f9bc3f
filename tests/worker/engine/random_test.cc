#include "worker/engine/random.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace optbench::engine {
namespace {

TEST(RngTest, SameSeedAndStreamGiveTheSameSequence) {
  Rng a(42, RngStream::kData), b(42, RngStream::kData);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.NextU64(), b.NextU64());
}

TEST(RngTest, StreamsAndSeedsAreIndependent) {
  Rng data(42, RngStream::kData), init(42, RngStream::kInit), other(43, RngStream::kData);
  const uint64_t x = data.NextU64();
  EXPECT_NE(x, init.NextU64());
  EXPECT_NE(x, other.NextU64());
}

TEST(RngTest, OutputIsFixedByTheStandard) {
  // std::mt19937_64's 10000th output for the default seed is fixed by the C++ standard
  // ([rand.predef]); our seeding is SplitMix64, also fully specified. Golden values pin both, so
  // a change to either (which would change every data set) fails here.
  std::mt19937_64 standard;
  standard.discard(9999);
  EXPECT_EQ(standard(), 9981545732273789042ULL);
  Rng rng(0, RngStream::kData);
  const uint64_t first = rng.NextU64();
  Rng again(0, RngStream::kData);
  EXPECT_EQ(again.NextU64(), first);
  EXPECT_EQ(first, 12128888389258827809ULL);  // Recorded when the generator was written.
}

TEST(RngTest, Uniform24IsOnTheFloatGridInUnitInterval) {
  Rng rng(7);
  for (int i = 0; i < 10000; ++i) {
    const double u = rng.Uniform24();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_EQ(u * 0x1p24, std::floor(u * 0x1p24));  // A multiple of 2^-24.
    ASSERT_EQ(static_cast<double>(static_cast<float>(u)), u);
  }
}

TEST(RngTest, UniformIntCoversTheRangeEvenly) {
  Rng rng(3);
  std::vector<int> hist(6, 0);
  for (int i = 0; i < 60000; ++i) {
    const uint64_t k = rng.UniformInt(6);
    ASSERT_LT(k, 6u);
    ++hist[k];
  }
  for (int h : hist) EXPECT_NEAR(h, 10000, 400);  // ~4 standard deviations.
}

TEST(RngTest, NormalHasUnitMomentsAndUniformHasHalfMean) {
  Rng rng(11);
  const int n = 200000;
  double sum = 0, sum_sq = 0, usum = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.Normal();
    sum += z;
    sum_sq += z * z;
    usum += rng.Uniform();
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / n, 1.0, 0.01);
  EXPECT_NEAR(usum / n, 0.5, 0.005);
}

}  // namespace
}  // namespace optbench::engine
