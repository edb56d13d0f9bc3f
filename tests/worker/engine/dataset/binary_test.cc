#include "worker/engine/dataset/binary.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

TEST(TwoGaussiansTest, ClassesCountsAndUnitIntervalFittedOnTrain) {
  TwoGaussiansOptions o;
  o.dim = 3;
  o.train = 400;
  o.test = 100;
  o.positive_fraction = 0.1;
  const Dataset data = MakeTwoGaussians(o);
  EXPECT_EQ(data.num_classes(), 2);
  EXPECT_EQ(data.num_features(), 3);
  EXPECT_EQ(data.train().class_counts, (std::vector<int64_t>{360, 40}));
  EXPECT_EQ(data.test().class_counts, (std::vector<int64_t>{90, 10}));
  const Matrix& x = data.train().features;
  for (int64_t j = 0; j < 3; ++j) {
    EXPECT_DOUBLE_EQ(x.col(j).minCoeff(), 0);
    EXPECT_DOUBLE_EQ(x.col(j).maxCoeff(), 1);
  }
  // Class 1's mean lies above class 0's in every feature (means -+ s/2 / sqrt(dim)).
  const Eigen::RowVectorXd m0 = x.topRows(360).cast<double>().colwise().mean();
  const Eigen::RowVectorXd m1 = x.bottomRows(40).cast<double>().colwise().mean();
  for (int64_t j = 0; j < 3; ++j) EXPECT_GT(m1(j), m0(j) + 0.1) << j;
  // Seeded.
  EXPECT_EQ(MakeTwoGaussians(o).train().features, x);
  o.data_seed = 1;
  EXPECT_NE(MakeTwoGaussians(o).train().features, x);
}

TEST(TwoGaussiansTest, TheTestSplitGetsTheTrainSplitsMap) {
  Matrix train(3, 2), test(2, 2);
  train << 1, 5, 3, 5, 2, 5;  // Column 1 is constant: it becomes 0.
  test << 4, 7, 0, 5;
  ScaleToUnitInterval(&train, &test);
  Matrix want_train(3, 2), want_test(2, 2);
  want_train << 0, 0, 1, 0, 0.5, 0;
  want_test << 1.5, 0, -0.5, 0;
  EXPECT_EQ(train, want_train);
  EXPECT_EQ(test, want_test);
}

TEST(TwoGaussiansTest, AnEmptyClassIsNamed) {
  EXPECT_THAT(
      MakeDataset("two_gaussians", {{"positive_fraction", 0.0}}).status().message(),
      HasSubstr("dataset.positive_fraction: 0 of 1000 train examples leaves class 1 empty"));
  EXPECT_THAT(MakeDataset("two_gaussians", {{"dim", int64_t{0}}}).status().message(),
              HasSubstr("dataset.dim: 0 is out of range"));
}

bool HaveFashionMnist() {
  return std::filesystem::exists(std::string(kDebianFashionMnistPath) +
                                 "/train-images-idx3-ubyte.gz");
}

TEST(FashionMnistPcaTest, TwoClassesProjectedOnTrainComponentsInUnitInterval) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  FashionMnistPcaOptions o;
  o.class_a = 7;  // Sneaker.
  o.class_b = 9;  // Ankle boot.
  o.dims = 10;
  o.max_train = 600;
  o.max_test = 300;
  absl::StatusOr<Dataset> data = LoadFashionMnistPca(o);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 2);
  EXPECT_EQ(data->num_features(), 10);
  EXPECT_EQ(data->train().size(), 600);
  EXPECT_EQ(data->test().size(), 300);
  // Both classes about equally (6,000 train and 1,000 test images each).
  EXPECT_GT(data->train().class_counts[0], 240);
  EXPECT_GT(data->train().class_counts[1], 240);
  const Eigen::MatrixXd x = data->train().features.cast<double>();
  for (int64_t j = 0; j < 10; ++j) {
    EXPECT_DOUBLE_EQ(x.col(j).minCoeff(), 0);
    EXPECT_DOUBLE_EQ(x.col(j).maxCoeff(), 1);
  }
  // Principal component scores are uncorrelated over the data they were fitted on (per-column
  // scaling keeps that), and the first carries the most variance before scaling: here, its
  // scaled column still separates the classes better than the tenth does (boots vs sneakers).
  const Eigen::MatrixXd centred = x.rowwise() - x.colwise().mean();
  const Eigen::MatrixXd cov = centred.transpose() * centred / (x.rows() - 1.0);
  for (int64_t a = 0; a < 10; ++a) {
    for (int64_t b = 0; b < a; ++b) {
      EXPECT_NEAR(cov(a, b) / std::sqrt(cov(a, a) * cov(b, b)), 0, 1e-9) << a << "," << b;
    }
  }
  // Nothing of the test split enters the fit: more test images, same train features.
  FashionMnistPcaOptions more = o;
  more.max_test = 0;
  absl::StatusOr<Dataset> all = LoadFashionMnistPca(more);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->train().features, data->train().features);
  EXPECT_EQ(all->test().size(), 2000);
}

TEST(FashionMnistPcaTest, BadParametersAreNamed) {
  EXPECT_THAT(MakeDataset("fashion_mnist_pca", {{"class_a", int64_t{3}}, {"class_b", int64_t{3}}})
                  .status()
                  .message(),
              HasSubstr("dataset.class_b: 3 is class_a too"));
  EXPECT_THAT(MakeDataset("fashion_mnist_pca", {{"class_b", int64_t{10}}}).status().message(),
              HasSubstr("dataset.class_b: 10 is out of range"));
  if (!HaveFashionMnist()) return;
  EXPECT_THAT(MakeDataset("fashion_mnist_pca", {{"max_train", int64_t{20}}, {"dims", int64_t{50}}})
                  .status()
                  .message(),
              HasSubstr("dataset.dims: 50 principal components need at most 19"));
}

}  // namespace
}  // namespace optbench::engine
