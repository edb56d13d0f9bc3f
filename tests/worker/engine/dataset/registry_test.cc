#include "worker/engine/dataset/registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

TEST(MakeDatasetTest, EveryDeclaredDatasetHasABuilder) {
  for (const ComponentSpec* spec : ListComponents(ComponentKind::kDataset)) {
    ParamMap params;
    if (spec->name == "heavy_tail_uniform") params["m"] = int64_t{2};
    absl::StatusOr<Dataset> data = MakeDataset(spec->name, params);
    // csv needs a file; everything else builds with (small) defaults. Never "no builder".
    EXPECT_NE(data.status().code(), absl::StatusCode::kInternal) << spec->name;
    if (spec->name != "csv") {
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
}

}  // namespace
}  // namespace optbench::engine
