#include "worker/engine/catalog.h"

#include <algorithm>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

JobSpec ValidSpec() {
  JobSpec spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.dataset.params["m"] = int64_t{4};
  spec.model.name = "linear";
  spec.optimizer.name = "adam";
  spec.optimizer.params["lr"] = 0.01;
  return spec;
}

std::string ErrorOf(const JobSpec& spec) {
  absl::StatusOr<JobSpec> out = ValidateJobSpec(spec);
  EXPECT_FALSE(out.ok());
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST(CatalogTest, ValidSpecGetsDefaults) {
  absl::StatusOr<JobSpec> out = ValidateJobSpec(ValidSpec());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(GetInt(out->dataset.params, "m"), 4);
  EXPECT_EQ(GetInt(out->dataset.params, "data_seed"), 0);
  EXPECT_TRUE(GetBool(out->model.params, "bias"));
  EXPECT_EQ(GetDouble(out->optimizer.params, "beta2"), 0.999);
}

TEST(CatalogTest, UnknownOrMissingComponentNamesTheField) {
  JobSpec spec = ValidSpec();
  spec.optimizer.name = "adma";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("optimizer.name: unknown optimizer 'adma'; known: "));
  EXPECT_THAT(ErrorOf(spec), HasSubstr(" adam, "));  // Every known name is listed.
  EXPECT_THAT(ErrorOf(spec), HasSubstr(" sgd, "));
  spec = ValidSpec();
  spec.dataset.name = "";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.name: missing"));
  spec = ValidSpec();
  spec.model.name = "mlp9";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("model.name: unknown model 'mlp9'"));
}

TEST(CatalogTest, BadParametersNameTheField) {
  JobSpec spec = ValidSpec();
  spec.optimizer.params["lr"] = -1.0;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("optimizer.lr: -1 is out of range"));
  spec = ValidSpec();
  spec.model.params["init"] = std::string("xavier");
  EXPECT_THAT(ErrorOf(spec), HasSubstr("model.init"));
  spec = ValidSpec();
  spec.dataset.params["size"] = int64_t{3};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.size: unknown parameter"));
}

TEST(CatalogTest, TrainerFieldsAreChecked) {
  JobSpec spec = ValidSpec();
  spec.trainer.steps = 0;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.steps: 0 is out of range"));
  spec = ValidSpec();
  spec.trainer.batch_size = -1;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.batch_size"));
  spec = ValidSpec();
  spec.trainer.chunk_rows = 0;  // 0 means "the default".
  spec.trainer.eval_every = 0;
  absl::StatusOr<JobSpec> out = ValidateJobSpec(spec);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->trainer.chunk_rows, TrainerSpec().chunk_rows);
  EXPECT_EQ(out->trainer.eval_every, TrainerSpec().eval_every);
}

TEST(CatalogTest, CsvNeedsATrainPath) {
  JobSpec spec = ValidSpec();
  spec.dataset.name = "csv";
  spec.dataset.params.clear();
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.train_path: required"));
}

TEST(CatalogTest, ListsComponentsSortedByName) {
  std::vector<std::string> names;
  for (const ComponentSpec* spec : ListComponents(ComponentKind::kOptimizer)) {
    names.push_back(spec->name);
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* name : {"adam", "gd", "normalized_gd", "sign_descent", "sgd", "adamw", "adagrad",
                           "rmsprop", "scaled_sign", "signum", "lion", "adafactor"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

}  // namespace
}  // namespace optbench::engine
