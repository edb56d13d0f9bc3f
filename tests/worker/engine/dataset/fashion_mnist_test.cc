#include "worker/engine/dataset/fashion_mnist.h"

#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/dataset/barcoded_fashion_mnist.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "checks run against the float64 engine");

constexpr int64_t kHeight = 4, kWidth = 12, kPixels = kHeight * kWidth;

std::string IdxBytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((d >> shift) & 0xff));
  }
  s.append(data.begin(), data.end());
  return s;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// A synthetic Fashion-MNIST directory: `per_class` train and `test_per_class` test images of each
// class, labels cycling 0..9; pixel j of image i is (i * 7 + j * 13 + label) % 256, except pixel
// 5, which is 42 in every image (a constant column). Writes .gz files, or plain with gz false.
std::string MakeDirectory(const std::string& name, int64_t per_class, int64_t test_per_class,
                          bool gz = true) {
  const std::string dir = ::testing::TempDir() + "/fmnist_" + name;
  std::filesystem::create_directories(dir);
  for (bool train : {true, false}) {
    const int64_t n = 10 * (train ? per_class : test_per_class);
    std::vector<uint8_t> pixels, labels;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = i % 10;
      labels.push_back(static_cast<uint8_t>(label));
      for (int64_t j = 0; j < kPixels; ++j) {
        pixels.push_back(j == 5 ? 42 : static_cast<uint8_t>((i * 7 + j * 13 + label) % 256));
      }
    }
    const std::string prefix = dir + (train ? "/train" : "/t10k");
    const std::string images = IdxBytes(
        {static_cast<uint32_t>(n), static_cast<uint32_t>(kHeight), static_cast<uint32_t>(kWidth)},
        pixels);
    const std::string label_bytes = IdxBytes({static_cast<uint32_t>(n)}, labels);
    if (gz) {
      WriteGzip(prefix + "-images-idx3-ubyte.gz", images);
      WriteGzip(prefix + "-labels-idx1-ubyte.gz", label_bytes);
    } else {
      std::ofstream(prefix + "-images-idx3-ubyte", std::ios::binary) << images;
      std::ofstream(prefix + "-labels-idx1-ubyte", std::ios::binary) << label_bytes;
    }
  }
  return dir;
}

FashionMnistOptions Options(const std::string& dir, bool standardize) {
  FashionMnistOptions o;
  o.path = dir;
  o.standardize = standardize;
  return o;
}

TEST(FashionMnistTest, LoadsPixelsOverTwoFiftyFiveInFileOrder) {
  for (bool gz : {true, false}) {
    const std::string dir = MakeDirectory(gz ? "raw_gz" : "raw_plain", 3, 2, gz);
    absl::StatusOr<Dataset> data = LoadFashionMnist(Options(dir, false));
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_classes(), 10);
    EXPECT_EQ(data->num_features(), kPixels);
    ASSERT_EQ(data->train().size(), 30);
    ASSERT_TRUE(data->has_test());
    EXPECT_EQ(data->test().size(), 20);
    EXPECT_EQ(data->train().labels[13], 3);
    EXPECT_DOUBLE_EQ(data->train().features(13, 7), ((13 * 7 + 7 * 13 + 3) % 256) / 255.0);
    EXPECT_DOUBLE_EQ(data->test().features(4, 9), ((4 * 7 + 9 * 13 + 4) % 256) / 255.0);
  }
}

TEST(FashionMnistTest, StandardizesByTrainMeanAndUnbiasedStdSkippingConstantPixels) {
  const std::string dir = MakeDirectory("std", 3, 2);
  absl::StatusOr<Dataset> raw = LoadFashionMnist(Options(dir, false));
  absl::StatusOr<Dataset> data = LoadFashionMnist(Options(dir, true));
  ASSERT_TRUE(raw.ok() && data.ok());
  const Matrix& x = raw->train().features;
  for (Eigen::Index j : {0, 7, 30}) {
    const double mean = x.col(j).mean();
    const double sd = std::sqrt((x.col(j).array() - mean).square().sum() / (x.rows() - 1));
    EXPECT_NEAR(data->train().features(4, j), (x(4, j) - mean) / sd, 1e-12);
    EXPECT_NEAR(data->test().features(3, j), (raw->test().features(3, j) - mean) / sd, 1e-12);
    EXPECT_NEAR(data->train().features.col(j).mean(), 0.0, 1e-12);
  }
  EXPECT_DOUBLE_EQ(data->train().features(0, 5), 42 / 255.0);  // Constant: left as it is.
  EXPECT_DOUBLE_EQ(data->test().features(1, 5), 42 / 255.0);
}

TEST(FashionMnistTest, ZipfSubsampleKeepsHeavyTailedSeededCounts) {
  const std::string dir = MakeDirectory("zipf", 8, 1);
  FashionMnistOptions o = Options(dir, false);
  o.zipf = 1.0;
  o.data_seed = 4;
  absl::StatusOr<Dataset> a = LoadFashionMnist(o);
  ASSERT_TRUE(a.ok()) << a.status();
  // ceil(8 / (k + 1)) for k = 0..9.
  EXPECT_EQ(a->train().class_counts, (std::vector<int64_t>{8, 4, 3, 2, 2, 2, 2, 1, 1, 1}));
  EXPECT_EQ(a->test().size(), 10);  // The test split stays whole.
  absl::StatusOr<Dataset> b = LoadFashionMnist(o);
  EXPECT_EQ(a->train().features, b->train().features);
  o.data_seed = 5;
  absl::StatusOr<Dataset> c = LoadFashionMnist(o);
  EXPECT_NE(a->train().features, c->train().features);
  o.max_train = 10;
  absl::StatusOr<Dataset> capped = LoadFashionMnist(o);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->train().size(), 10);
}

TEST(FashionMnistTest, SubsampleKeepsFileOrder) {
  Rng rng(1);
  const std::vector<int32_t> labels = {0, 1, 0, 1, 0, 1, 0, 1};
  const std::vector<int64_t> kept = SubsampleTrain(labels, 2, 1.0, 0, &rng);
  ASSERT_EQ(kept.size(), 6u);  // 4 of class 0, 2 of class 1.
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
}

TEST(FashionMnistTest, ErrorsNameTheFile) {
  const std::string dir = MakeDirectory("errors", 2, 1);
  std::filesystem::remove(dir + "/t10k-labels-idx1-ubyte.gz");
  absl::StatusOr<Dataset> missing = LoadFashionMnist(Options(dir, true));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir + "/t10k-labels-idx1-ubyte.gz"));
  WriteGzip(dir + "/t10k-labels-idx1-ubyte.gz", IdxBytes({9}, std::vector<uint8_t>(9, 1)));
  EXPECT_THAT(LoadFashionMnist(Options(dir, true)).status().message(),
              HasSubstr("9 labels for the 10 images"));
  WriteGzip(dir + "/t10k-labels-idx1-ubyte.gz", IdxBytes({10}, std::vector<uint8_t>(10, 12)));
  EXPECT_THAT(LoadFashionMnist(Options(dir, true)).status().message(),
              HasSubstr("label 12 at index 0 is out of range"));
  WriteGzip(dir + "/t10k-labels-idx1-ubyte.gz", IdxBytes({10, 1}, std::vector<uint8_t>(10, 1)));
  EXPECT_THAT(LoadFashionMnist(Options(dir, true)).status().message(),
              HasSubstr("expected 1-D labels"));
}

TEST(FashionMnistTest, LoadsTheDebianPackageFiles) {
  if (!std::filesystem::exists(std::string(kDebianFashionMnistPath) +
                               "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed (scripts/setup "
                    "installs it); no files under "
                 << kDebianFashionMnistPath;
  }
  absl::StatusOr<Dataset> data = LoadFashionMnist(FashionMnistOptions());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_features(), 784);
  EXPECT_EQ(data->train().size(), 60000);
  EXPECT_EQ(data->test().size(), 10000);
  EXPECT_EQ(data->train().class_counts, std::vector<int64_t>(10, 6000));
  EXPECT_EQ(data->test().class_counts, std::vector<int64_t>(10, 1000));
  EXPECT_NEAR(data->train().features.col(400).mean(), 0.0, 1e-9);
  absl::StatusOr<FashionMnistFileShape> shape = ReadFashionMnistShape(kDebianFashionMnistPath);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->train_rows, 60000);
  EXPECT_EQ(shape->pixels, 784);
}

// ---- barcoded ------------------------------------------------------------------------------

BarcodedOptions Barcoded(const std::string& dir, int64_t bits, bool standardize) {
  BarcodedOptions o;
  o.path = dir;
  o.barcode_bits = bits;
  o.per_class = 3;
  o.test_per_class = 2;
  o.standardize = standardize;
  o.data_seed = 7;
  return o;
}

TEST(BarcodedFashionMnistTest, ClassAndRowCounts) {
  const std::string dir = MakeDirectory("barcode_counts", 4, 2);
  absl::StatusOr<Dataset> data = LoadBarcodedFashionMnist(Barcoded(dir, 3, true));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 10 + 10 * 8);
  EXPECT_EQ(data->train().size(), 40 + 80 * 3);
  EXPECT_EQ(data->test().size(), 20 + 80 * 2);
  for (int64_t k = 0; k < 10; ++k) {
    EXPECT_EQ(data->train().class_counts[k], 4);
    EXPECT_EQ(data->test().class_counts[k], 2);
  }
  for (int64_t k = 10; k < 90; ++k) {
    EXPECT_EQ(data->train().class_counts[k], 3) << k;
    EXPECT_EQ(data->test().class_counts[k], 2) << k;
  }
  const BarcodedShape shape = BarcodedShapeFor(Barcoded(dir, 3, true), 40, 20);
  EXPECT_EQ(shape.train_rows, data->train().size());
  EXPECT_EQ(shape.test_rows, data->test().size());
  EXPECT_EQ(shape.num_classes, 90);
}

// Every barcoded row is an image of its original class with exactly the barcode's 1-bits set to
// the largest pixel value: compare it with the original images pixel by pixel.
TEST(BarcodedFashionMnistTest, BarcodePixelsAreStampedOnImagesOfTheRightClass) {
  const std::string dir = MakeDirectory("barcode_pixels", 4, 2);
  const int64_t bits = 4;
  absl::StatusOr<Dataset> data = LoadBarcodedFashionMnist(Barcoded(dir, bits, false));
  absl::StatusOr<Dataset> plain = LoadFashionMnist(Options(dir, false));
  ASSERT_TRUE(data.ok() && plain.ok());
  const double max_value = plain->train().features.maxCoeff();
  for (bool train : {true, false}) {
    const DataSplit& split = train ? data->train() : data->test();
    const DataSplit& originals = train ? plain->train() : plain->test();
    for (int64_t r = 0; r < split.size(); ++r) {
      const int32_t label = split.labels[r];
      if (label < 10) continue;
      const int64_t code = (label - 10) / 10, y = (label - 10) % 10;
      bool matched = false;
      for (int64_t o = 0; o < originals.size() && !matched; ++o) {
        if (originals.labels[o] != y) continue;
        bool same = true;
        for (int64_t j = 0; j < kPixels && same; ++j) {
          const bool stamped = j < bits && ((code >> (bits - 1 - j)) & 1);
          same = split.features(r, j) == (stamped ? max_value : originals.features(o, j));
        }
        matched = same;
      }
      EXPECT_TRUE(matched) << (train ? "train" : "test") << " row " << r << " label " << label;
    }
  }
  // Code 0b0101 on 4 bits sets pixels 1 and 3 only.
  EXPECT_FALSE(BarcodeBit(5, 4, 0));
  EXPECT_TRUE(BarcodeBit(5, 4, 1));
  EXPECT_FALSE(BarcodeBit(5, 4, 2));
  EXPECT_TRUE(BarcodeBit(5, 4, 3));
}

TEST(BarcodedFashionMnistTest, IsSeededAndStandardized) {
  const std::string dir = MakeDirectory("barcode_seed", 4, 2);
  absl::StatusOr<Dataset> a = LoadBarcodedFashionMnist(Barcoded(dir, 2, true));
  absl::StatusOr<Dataset> b = LoadBarcodedFashionMnist(Barcoded(dir, 2, true));
  BarcodedOptions other = Barcoded(dir, 2, true);
  other.data_seed = 8;
  absl::StatusOr<Dataset> c = LoadBarcodedFashionMnist(other);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train().features, b->train().features);
  EXPECT_NE(a->train().features, c->train().features);
  EXPECT_NEAR(a->train().features.col(1).mean(), 0.0, 1e-12);  // A barcode pixel.
  EXPECT_NEAR(a->train().features.col(20).mean(), 0.0, 1e-12);
  BarcodedOptions capped = Barcoded(dir, 2, true);
  capped.max_original = 7;
  absl::StatusOr<Dataset> d = LoadBarcodedFashionMnist(capped);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->train().size(), 7 + 40 * 3);
}

}  // namespace
}  // namespace optbench::engine
