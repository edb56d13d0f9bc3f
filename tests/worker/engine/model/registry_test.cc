#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/model_def.h"

namespace optbench::engine {
namespace {

using testing::ModelBufferRealsPerRow;
using testing::ModelParameterCount;

using ::testing::HasSubstr;

int64_t SlotEntries(Model* model) {
  int64_t n = 0;
  for (const ParamSlot& slot : model->Params()) n += slot.value->size();
  return n;
}

TEST(MakeModelTest, EveryDeclaredModelBuildsAndCountsItsParameters) {
  for (const spec::ComponentSpec* spec : Catalog().List(spec::ComponentKind::kModel)) {
    spec::ParamMap params;
    if (spec->name == "cnn") params = {{"channels1", int64_t{2}}, {"channels2", int64_t{3}}};
    if (spec->name == "attention2") continue;  // Binary data only: attention2_test.cc counts it.
    absl::StatusOr<std::unique_ptr<Model>> model = MakeModel(spec->name, params, 784, 7, 1);
    ASSERT_TRUE(model.ok()) << spec->name << ": " << model.status();
    absl::StatusOr<int64_t> count = ModelParameterCount(spec->name, params, 784, 7);
    ASSERT_TRUE(count.ok()) << count.status();
    EXPECT_EQ(*count, SlotEntries(model->get())) << spec->name;
    EXPECT_TRUE(ModelBufferRealsPerRow(spec->name, params, 784, 7).ok()) << spec->name;
  }
}

TEST(MakeModelTest, InputGradientIsDeclaredExactlyByTheModelsThatHaveIt) {
  int64_t providers = 0;
  for (const ModelDef* def : Models()) {
    const std::string& name = def->spec.name;
    spec::ParamMap params;
    if (name == "cnn") params = {{"channels1", int64_t{2}}, {"channels2", int64_t{3}}};
    if (name == "attention2") continue;  // Binary data only; it declares no input gradient.
    absl::StatusOr<std::unique_ptr<Model>> model = MakeModel(name, params, 784, 7, 1);
    ASSERT_TRUE(model.ok()) << name << ": " << model.status();
    const Matrix x = Matrix::Zero(1, 784);  // Token id 0 for the token models.
    Matrix logits(1, (*model)->num_outputs());
    (*model)->Forward(x, logits);
    logits.setOnes();
    Matrix dx(1, 784);
    const bool declared = std::count(def->spec.provides.begin(), def->spec.provides.end(),
                                     std::string(kInputGradientCapability)) == 1;
    EXPECT_EQ((*model)->InputGradient(logits, dx), declared) << name;
    providers += declared ? 1 : 0;
  }
  EXPECT_GE(providers, 2);  // linear and mlp.
}

TEST(MakeModelTest, MlpFromParameters) {
  const spec::ParamMap params = {{"hidden", std::vector<int64_t>{5, 3}}, {"bias", false}};
  absl::StatusOr<std::unique_ptr<Model>> model = MakeModel("mlp", params, 4, 2, 0);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(SlotEntries(model->get()), 4 * 5 + 5 * 3 + 3 * 2);
  EXPECT_EQ(*ModelBufferRealsPerRow("mlp", params, 4, 2), 2 * (5 + 3));
  absl::StatusOr<std::unique_ptr<Model>> linear =
      MakeModel("mlp", {{"hidden", std::vector<int64_t>{}}}, 4, 2, 0);
  ASSERT_TRUE(linear.ok());
  EXPECT_EQ(SlotEntries(linear->get()), 4 * 2 + 2);
  EXPECT_THAT(MakeModel("mlp", {{"hidden", std::vector<int64_t>{0}}}, 4, 2, 0).status().message(),
              HasSubstr("hidden"));
  EXPECT_THAT(MakeModel("mlp", {{"init", std::string("orthogonal")}}, 4, 2, 0).status().message(),
              HasSubstr("init"));
}

TEST(MakeModelTest, CnnNeedsImagesOfItsSize) {
  const spec::ParamMap params = {{"channels1", int64_t{2}},
                                 {"channels2", int64_t{3}},
                                 {"height", int64_t{8}},
                                 {"width", int64_t{6}},
                                 {"in_channels", int64_t{2}}};
  EXPECT_TRUE(MakeModel("cnn", params, 96, 3, 0).ok());
  absl::Status wrong = MakeModel("cnn", params, 784, 3, 0).status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.message(), HasSubstr("8 x 6 x 2 = 96 features, but the data set has 784"));
  EXPECT_EQ(ModelParameterCount("cnn", params, 784, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace optbench::engine
