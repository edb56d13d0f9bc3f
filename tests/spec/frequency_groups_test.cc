#include "spec/frequency_groups.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optbench::spec {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Class counts of paper 1's D1 (ALGORITHMS.md 1.1), written from the formula: level i holds 2^i
// classes of 2^(m-i) examples, class ids level by level.
std::vector<int64_t> D1Counts(int m) {
  std::vector<int64_t> counts;
  for (int i = 0; i < m; ++i) counts.insert(counts.end(), size_t{1} << i, int64_t{1} << (m - i));
  return counts;
}

TEST(FrequencyGroupsTest, RecoversTheLevelsOfD1WithOneGroupPerLevel) {
  for (int m = 2; m <= 11; ++m) {
    const std::vector<std::vector<int64_t>> groups = FrequencyGroups(D1Counts(m), m);
    ASSERT_EQ(groups.size(), static_cast<size_t>(m));
    for (int i = 0; i < m; ++i) {
      std::vector<int64_t> level;
      for (int64_t k = (int64_t{1} << i) - 1; k < (int64_t{1} << (i + 1)) - 1; ++k) {
        level.push_back(k);
      }
      EXPECT_EQ(groups[i], level) << "m=" << m << " level " << i;
    }
  }
}

TEST(FrequencyGroupsTest, TenGroupsPartitionByDecreasingFrequency) {
  const std::vector<int64_t> counts = D1Counts(6);
  const std::vector<std::vector<int64_t>> groups = FrequencyGroups(counts, 10);
  ASSERT_EQ(groups.size(), 10u);
  std::vector<int64_t> seen;
  int64_t previous_min = INT64_MAX;
  for (const auto& group : groups) {
    ASSERT_FALSE(group.empty());
    for (int64_t k : group) {
      EXPECT_LE(counts[k], previous_min);  // No class is more frequent than an earlier group's.
      seen.push_back(k);
    }
    for (int64_t k : group) previous_min = std::min(previous_min, counts[k]);
  }
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), counts.size());
  for (size_t k = 0; k < seen.size(); ++k) EXPECT_EQ(seen[k], static_cast<int64_t>(k));
  // Group 0 is the single most frequent class (1/6 of the data >= the first breakpoint 1/10).
  EXPECT_THAT(groups[0], ElementsAre(0));
}

TEST(FrequencyGroupsTest, TiesAreBrokenByClassId) {
  const auto groups = FrequencyGroups({5, 5, 5, 5}, 2);
  EXPECT_THAT(groups[0], ElementsAre(0, 1));
  EXPECT_THAT(groups[1], ElementsAre(2, 3));
}

TEST(FrequencyGroupsTest, ADominantClassLeavesEmptyGroups) {
  // Class 0 holds 90% of the data, so it ends the groups of breakpoints 0.1 .. 0.9 at once.
  const auto groups = FrequencyGroups({90, 5, 5}, 10);
  EXPECT_THAT(groups[0], ElementsAre(0));
  for (int g = 1; g < 9; ++g) EXPECT_THAT(groups[g], IsEmpty()) << g;
  EXPECT_THAT(groups[9], ElementsAre(1, 2));
}

TEST(FrequencyGroupsTest, ZeroCountClassesAreRarest) {
  const auto groups = FrequencyGroups({0, 3, 1}, 2);
  EXPECT_THAT(groups[0], ElementsAre(1));
  EXPECT_THAT(groups[1], ElementsAre(2, 0));
  const auto all_zero = FrequencyGroups({0, 0}, 3);
  EXPECT_THAT(all_zero[0], IsEmpty());
  EXPECT_THAT(all_zero[2], ElementsAre(0, 1));
}

TEST(FrequencyGroupsTest, OneGroupHoldsEverything) {
  EXPECT_THAT(FrequencyGroups({1, 7, 3}, 1), ElementsAre(ElementsAre(1, 2, 0)));
}

}  // namespace
}  // namespace optbench::spec
