#include "spec/catalog.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/catalog.h"

namespace optbench::spec {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

const Catalog& TheCatalog() { return engine::Catalog(); }

JobSpec ValidSpec() {
  JobSpec spec;
  spec.components["dataset"] = {"heavy_tail_uniform", {{"m", int64_t{4}}}};
  spec.components["model"] = {"linear", {}};
  spec.components["optimizer"] = {"adam", {{"lr", 0.01}}};
  return spec;
}

std::string ErrorOf(const JobSpec& spec) {
  absl::StatusOr<JobSpec> out = TheCatalog().Validate(spec);
  EXPECT_FALSE(out.ok());
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST(CatalogTest, ValidSpecGetsDefaults) {
  absl::StatusOr<JobSpec> out = TheCatalog().Validate(ValidSpec());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(GetInt(out->component("dataset").params, "m"), 4);
  EXPECT_EQ(GetInt(out->component("dataset").params, "data_seed"), 0);
  EXPECT_TRUE(GetBool(out->component("model").params, "bias"));
  EXPECT_EQ(GetDouble(out->component("optimizer").params, "beta2"), 0.999);
  // The default task, its optional slot's default component and every setting are filled in.
  EXPECT_EQ(out->task, TheCatalog().tasks().front()->name);
  EXPECT_EQ(out->component("objective").name, "cross_entropy");
  EXPECT_EQ(out->find_component("aux_optimizer"), nullptr);
  EXPECT_EQ(GetInt(out->settings, "steps"), 100);
  EXPECT_EQ(GetInt(out->settings, "chunk_rows"), 4096);
}

TEST(CatalogTest, ValidationIsIdempotentForEveryComponent) {
  // Defaults filled in are never an error: a validated spec validates to itself. (Soap's and
  // shampoo's paper variants once failed here: their filled-in reference-only defaults were
  // refused as if the user had set them.)
  for (ComponentKind kind : {ComponentKind::kDataset, ComponentKind::kModel,
                             ComponentKind::kOptimizer, ComponentKind::kObjective}) {
    for (const ComponentSpec* c : TheCatalog().List(kind)) {
      std::vector<ParamMap> variants = {{}};
      for (const ParamSpec& p : c->params) {
        for (const std::string& choice : p.choices) variants.push_back({{p.name, choice}});
      }
      for (const ParamMap& given : variants) {
        absl::StatusOr<ParamMap> once = TheCatalog().ValidateComponent(kind, c->name, given);
        if (!once.ok()) continue;  // Some choices need other parameters; the rest must pass.
        absl::StatusOr<ParamMap> twice = TheCatalog().ValidateComponent(kind, c->name, *once);
        ASSERT_TRUE(twice.ok()) << c->name << ": " << twice.status();
        EXPECT_EQ(*twice, *once) << c->name;
      }
    }
  }
  absl::StatusOr<JobSpec> once = TheCatalog().Validate(ValidSpec());
  ASSERT_TRUE(once.ok());
  absl::StatusOr<JobSpec> twice = TheCatalog().Validate(*once);
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_EQ(*twice, *once);
}

TEST(CatalogTest, PaperVariantsOfSoapAndShampooValidateAndRevalidate) {
  for (const char* name : {"soap", "shampoo"}) {
    JobSpec spec = ValidSpec();
    spec.components["optimizer"] = {name, {{"variant", std::string("paper")}}};
    absl::StatusOr<JobSpec> out = TheCatalog().Validate(spec);
    ASSERT_TRUE(out.ok()) << name << ": " << out.status();
    EXPECT_TRUE(TheCatalog().Validate(*out).ok()) << name;
  }
}

TEST(CatalogTest, UnknownOrMissingComponentNamesTheField) {
  JobSpec spec = ValidSpec();
  spec.components["optimizer"].name = "adma";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("optimizer.name: unknown optimizer 'adma'; known: "));
  EXPECT_THAT(ErrorOf(spec), HasSubstr(" adam, "));  // Every known name is listed.
  EXPECT_THAT(ErrorOf(spec), HasSubstr(" sgd, "));
  spec = ValidSpec();
  spec.components["dataset"].name = "";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.name: missing"));
  spec = ValidSpec();
  spec.components.erase("dataset");
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.name: missing"));
  spec = ValidSpec();
  spec.components["model"].name = "mlp9";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("model.name: unknown model 'mlp9'"));
  spec = ValidSpec();
  spec.components["aux_optimizer"].name = "adma";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("aux_optimizer.name: unknown optimizer 'adma'"));
}

TEST(CatalogTest, UnknownTaskAndSlotAreNamed) {
  JobSpec spec = ValidSpec();
  spec.task = "trian";
  EXPECT_THAT(ErrorOf(spec), HasSubstr("task: unknown task 'trian'; known: train"));
  spec = ValidSpec();
  spec.components["teacher"] = {"linear", {}};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("teacher: not a part of task 'train'; it takes: dataset, "
                                       "model, optimizer, aux_optimizer, objective"));
}

TEST(CatalogTest, SeedsAreTheSweepFilesRange) {
  JobSpec spec = ValidSpec();
  spec.seed = kMaxSeed;
  EXPECT_TRUE(TheCatalog().Validate(spec).ok());
  spec.seed = kMaxSeed + 1;
  EXPECT_EQ(ErrorOf(spec),
            "seed: 9007199254740993 is out of range; allowed integers in [0, 9007199254740992]");
  spec.seed = ~uint64_t{0};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("seed: 18446744073709551615 is out of range"));
}

TEST(CatalogTest, BadParametersNameTheField) {
  JobSpec spec = ValidSpec();
  spec.components["optimizer"].params["lr"] = -1.0;
  EXPECT_THAT(ErrorOf(spec), HasSubstr("optimizer.lr: -1 is out of range"));
  spec = ValidSpec();
  spec.components["model"].params["init"] = std::string("xavier");
  EXPECT_THAT(ErrorOf(spec), HasSubstr("model.init"));
  spec = ValidSpec();
  spec.components["dataset"].params["size"] = int64_t{3};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.size: unknown parameter"));
  spec = ValidSpec();
  spec.components["aux_optimizer"] = {"adam", {{"beta1", 1.5}}};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("aux_optimizer.beta1: 1.5 is out of range"));
}

TEST(CatalogTest, TrainerFieldsAreChecked) {
  JobSpec spec = ValidSpec();
  spec.settings["steps"] = int64_t{0};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.steps: 0 is out of range"));
  spec = ValidSpec();
  spec.settings["batch_size"] = int64_t{-1};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.batch_size"));
  spec = ValidSpec();
  spec.settings["epochs"] = int64_t{3};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.epochs: unknown parameter of task 'train'"));
  // Where the data set's size is known from its parameters, a batch larger than it is refused
  // before any job runs (D1 with m = 4 has 64 examples).
  spec = ValidSpec();
  spec.settings["batch_size"] = int64_t{65};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("trainer.batch_size: 65 exceeds the 64 examples"));
  spec.settings["batch_size"] = int64_t{64};
  EXPECT_TRUE(TheCatalog().Validate(spec).ok());
}

TEST(CatalogTest, ReadOnlyWhenParametersAreRefusedElsewhere) {
  JobSpec spec = ValidSpec();
  spec.components["optimizer"] = {"soap",
                                  {{"variant", std::string("paper")}, {"normalize_grads", true}}};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("optimizer.normalize_grads: true is only used by variant "
                                       "'reference' (variant is 'paper')"));
  spec.components["optimizer"].params["normalize_grads"] = false;  // The default: harmless.
  EXPECT_TRUE(TheCatalog().Validate(spec).ok());
}

TEST(CatalogTest, CsvNeedsATrainPath) {
  JobSpec spec = ValidSpec();
  spec.components["dataset"] = {"csv", {}};
  EXPECT_THAT(ErrorOf(spec), HasSubstr("dataset.train_path: required"));
}

TEST(CatalogTest, CapabilitiesMustMeetInAJob) {
  JobSpec spec = ValidSpec();
  spec.components["objective"] = {"sequence_cross_entropy", {}};
  const std::string error = ErrorOf(spec);
  EXPECT_THAT(error, HasSubstr("objective.name: sequence_cross_entropy needs token_ids (provided "
                               "by dataset text)"));
  EXPECT_THAT(error, HasSubstr("dataset 'heavy_tail_uniform'"));
  spec.components["dataset"] = {"text", {}};
  EXPECT_THAT(ErrorOf(spec),
              HasSubstr("needs positions (provided by model transformer); dataset 'text', "
                        "model 'linear'"));
  spec.components["model"] = {"transformer", {}};
  EXPECT_TRUE(TheCatalog().Validate(spec).ok());
}

TEST(CatalogTest, MetricsOfAJobAreItsTasksAndComponents) {
  absl::StatusOr<JobSpec> out = TheCatalog().Validate(ValidSpec());
  ASSERT_TRUE(out.ok());
  const std::vector<MetricSpec> metrics = TheCatalog().Metrics(*out);
  for (const char* name : {"grad_norm", "lr", "wall_seconds", "head_grad_norm", "loss_sum"}) {
    EXPECT_NE(FindMetric(metrics, name), nullptr) << name;
  }
  EXPECT_EQ(FindMetric(metrics, "diag.attn_11"), nullptr);  // The linear model has none.
  ASSERT_NE(DefaultMetric(metrics), nullptr);
  EXPECT_EQ(DefaultMetric(metrics)->query, "loss");
  JobSpec attention = ValidSpec();
  attention.components["dataset"] = {"noisy_patches", {}};
  attention.components["model"] = {"attention2", {}};
  out = TheCatalog().Validate(attention);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(FindMetric(TheCatalog().Metrics(*out), "diag.attn_11"), nullptr);
}

TEST(CatalogTest, ListsComponentsSortedByName) {
  std::vector<std::string> names;
  for (const ComponentSpec* spec : TheCatalog().List(ComponentKind::kOptimizer)) {
    names.push_back(spec->name);
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* name : {"adam", "gd", "normalized_gd", "sign_descent", "sgd", "adamw", "adagrad",
                           "rmsprop", "scaled_sign", "signum", "lion", "adafactor"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_THAT(TheCatalog().Find(ComponentKind::kObjective, "mse"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("objective.name: unknown objective 'mse'")));
}

}  // namespace
}  // namespace optbench::spec
