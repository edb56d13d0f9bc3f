#include "worker/engine/dataset/noisy_patches.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using testing::ValidateTrainJob;

TEST(NoisyPatchesTest, SignalPatchSparseNoisePatchAndBalancedLabels) {
  NoisyPatchesOptions o;
  o.d = 50;
  o.n_train = 2000;
  o.n_test = 10;
  o.mu_norm = 2.0;
  o.s = 40;
  o.snr = 0.5;
  const Dataset data = MakeNoisyPatches(o);
  ASSERT_EQ(data.num_classes(), 2);
  ASSERT_EQ(data.num_features(), 100);
  ASSERT_EQ(data.train().size(), 2000);
  ASSERT_TRUE(data.has_test());
  EXPECT_EQ(data.test().size(), 10);
  EXPECT_EQ(data.train().class_counts, (std::vector<int64_t>{1000, 1000}));
  const double sigma_p = o.mu_norm / (o.snr * std::sqrt(40.0));
  double sum_sq = 0;
  int64_t draws = 0;
  for (int64_t i = 0; i < data.train().size(); ++i) {
    const auto x = data.train().features.row(i);
    const double y = data.train().labels[i] == 1 ? 1.0 : -1.0;
    // Signal patch: y mu with mu = ||mu|| e_1, nothing else.
    EXPECT_EQ(x(0), y * o.mu_norm);
    for (int j = 1; j < o.d; ++j) ASSERT_EQ(x(j), 0) << i << "," << j;
    // Noise patch: exactly s non-zeros, never on the signal coordinate.
    EXPECT_EQ(x(o.d), 0);
    int nonzero = 0;
    for (int j = static_cast<int>(o.d); j < 2 * o.d; ++j) {
      if (x(j) != 0) {
        ++nonzero;
        sum_sq += static_cast<double>(x(j)) * x(j);
        ++draws;
      }
    }
    ASSERT_EQ(nonzero, o.s) << i;
  }
  // 80,000 N(0, sigma_p^2) draws: the empirical std is within 2% of sigma_p.
  EXPECT_NEAR(std::sqrt(sum_sq / static_cast<double>(draws)), sigma_p, 0.02 * sigma_p);
}

TEST(NoisyPatchesTest, DeterministicPerSeedThroughTheRegistry) {
  const spec::ParamMap params = {{"d", int64_t{30}}, {"n_train", int64_t{8}}, {"s", int64_t{5}}};
  auto valid = Catalog().ValidateComponent(spec::ComponentKind::kDataset, "noisy_patches", params);
  ASSERT_TRUE(valid.ok()) << valid.status();
  auto a = MakeDataset("noisy_patches", *valid);
  auto b = MakeDataset("noisy_patches", *valid);
  spec::ParamMap other = *valid;
  other["data_seed"] = int64_t{1};
  auto c = MakeDataset("noisy_patches", other);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train().features, b->train().features);
  EXPECT_NE(a->train().features, c->train().features);
  EXPECT_EQ(a->test().size(), 1000);
}

TEST(NoisyPatchesTest, MoreNoiseCoordinatesThanFitIsRefused) {
  TrainJob spec;
  spec.dataset = {"noisy_patches", {{"d", int64_t{10}}, {"s", int64_t{10}}}};
  spec.model = {"linear", {}};
  spec.optimizer = {"sign_descent", {}};
  auto valid = ValidateTrainJob(spec);
  ASSERT_FALSE(valid.ok());
  EXPECT_NE(valid.status().message().find("dataset.s: 10"), std::string::npos) << valid.status();
}

}  // namespace
}  // namespace optbench::engine
