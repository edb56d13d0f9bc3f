#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"
#include "worker/engine/dataset/fashion_mnist.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

TEST(MakeDatasetTest, EveryDeclaredDatasetHasABuilder) {
  for (const spec::ComponentSpec* spec : Catalog().List(spec::ComponentKind::kDataset)) {
    spec::ParamMap params;
    if (spec->name == "heavy_tail_uniform") params["m"] = int64_t{2};
    if (spec->name == "fashion_mnist") params["max_train"] = int64_t{100};
    if (spec->name == "barcoded_fashion_mnist") params["barcode_bits"] = int64_t{1};
    absl::StatusOr<Dataset> data = MakeDataset(spec->name, params);
    // csv and npy need files, the Fashion-MNIST sets the Debian package's; everything else
    // builds with (small) defaults. Never "no builder".
    EXPECT_NE(data.status().code(), absl::StatusCode::kInternal) << spec->name;
    const bool needs_files =
        spec->name == "csv" || spec->name == "npy" ||
        (spec->name.find("fashion_mnist") != std::string::npos &&
         !std::filesystem::exists(kDebianFashionMnistPath)) ||
        (spec->name == "text" && !std::filesystem::exists("/usr/share/games/fortunes"));
    if (!needs_files) {
      EXPECT_TRUE(data.ok()) << spec->name << ": " << data.status();
    }
  }
}

TEST(MakeDatasetTest, BuildsFromCatalogParameters) {
  absl::StatusOr<Dataset> data =
      MakeDataset("heavy_tail_uniform", {{"m", int64_t{3}}, {"data_seed", int64_t{9}}});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train().features, MakeHeavyTailUniform(3, 9).train().features);
}

TEST(MakeDatasetTest, RejectsUnknownNamesAndBadParameters) {
  EXPECT_THAT(MakeDataset("mnist9", {}).status().message(), HasSubstr("unknown dataset 'mnist9'"));
  EXPECT_THAT(MakeDataset("heavy_tail_uniform", {{"m", int64_t{1}}}).status().message(),
              HasSubstr("dataset.m: 1 is out of range"));
  EXPECT_THAT(MakeDataset("csv", {}).status().message(), HasSubstr("dataset.train_path"));
  EXPECT_THAT(MakeDataset("npy", {}).status().message(), HasSubstr("dataset.features_path"));
  EXPECT_THAT(
      MakeDataset("barcoded_fashion_mnist", {{"barcode_bits", int64_t{11}}}).status().message(),
      HasSubstr("dataset.barcode_bits: 11 is out of range"));
  EXPECT_THAT(
      MakeDataset("fashion_mnist", {{"path", std::string("/nonexistent")}}).status().message(),
      HasSubstr("/nonexistent/train-images-idx3-ubyte.gz: cannot open file"));
}

}  // namespace
}  // namespace optbench::engine
