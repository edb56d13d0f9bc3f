#include "sweep/sweep_file.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sweep/sweep_values.h"
#include "tests/testing/source_catalog.h"
#include "worker/engine/catalog.h"
#include "worker/engine/task/train.h"

namespace optbench::sweep {
namespace {

using spec::GetBool;
using spec::GetDouble;
using spec::GetInt;
using spec::GetString;
using spec::ParamType;
using spec::ParamValue;

// Sweeps parse against the engine's catalog, as the coordinator and the CLI do.
absl::StatusOr<SweepFile> ParseSweep(absl::string_view text, absl::string_view source,
                                     const ParseOptions& options = {}) {
  return sweep::ParseSweep(text, source, engine::Catalog(), options);
}

std::vector<JobLabels> LabelJobs(const std::vector<spec::JobSpec>& specs) {
  return sweep::LabelJobs(engine::Catalog(), specs);
}

// A train job's spec in typed form.
engine::TrainJob Train(const spec::JobSpec& spec) { return engine::TrainJob::From(spec); }
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The example of sweep_file.h.
constexpr char kExample[] = R"(name: heavy_tail_linear
dataset: {name: heavy_tail_uniform, m: 8}
model:   {name: linear, bias: true, init: zeros}
trainer: {steps: 300, eval_every: 10, eval_log_spaced: true}
seed: [0, 1, 2]
optimizer:
  - {name: gd, lr: [0.1, 0.3]}
  - {name: adam, lr: 1e-3, beta1: [0, 0.9]}
  - {name: sign_descent, lr: 1e-3}
)";

// The same sweep as JSON.
constexpr char kExampleJson[] = R"({
  "name": "heavy_tail_linear",
  "dataset": {"name": "heavy_tail_uniform", "m": 8},
  "model": {"name": "linear", "bias": true, "init": "zeros"},
  "trainer": {"steps": 300, "eval_every": 10, "eval_log_spaced": true},
  "seed": [0, 1, 2],
  "optimizer": [
    {"name": "gd", "lr": [0.1, 0.3]},
    {"name": "adam", "lr": 1e-3, "beta1": [0, 0.9]},
    {"name": "sign_descent", "lr": 1e-3}
  ]
})";

// The smallest valid sweep, for error cases to extend.
constexpr char kHeader[] = R"(dataset: {name: heavy_tail_uniform, m: 3}
model: {name: linear}
)";

SweepFile ParseOk(const std::string& text, const ParseOptions& options = {}) {
  absl::StatusOr<SweepFile> sweep = ParseSweep(text, "sweep.yaml", options);
  EXPECT_TRUE(sweep.ok()) << sweep.status();
  return sweep.ok() ? *std::move(sweep) : SweepFile();
}

std::vector<std::string> Labels(const SweepFile& sweep) {
  std::vector<std::string> out;
  for (const ExpandedJob& job : sweep.jobs) out.push_back(FormatLabels(job.labels));
  return out;
}

// The message of the error that `text` gives ("" if it parses).
std::string ErrorOf(const std::string& text, const ParseOptions& options = {}) {
  absl::StatusOr<SweepFile> sweep = ParseSweep(text, "sweep.yaml", options);
  if (sweep.ok()) return "";
  EXPECT_EQ(sweep.status().code(), absl::StatusCode::kInvalidArgument) << sweep.status();
  return std::string(sweep.status().message());
}

TEST(SweepFileTest, ExpandsExampleInDocumentedOrder) {
  const SweepFile sweep = ParseOk(kExample);
  EXPECT_EQ(sweep.name, "heavy_tail_linear");
  // Optimizer alternatives in file order, each over its axes, seed innermost; labels hold the
  // optimizer, the seed and what varies (lr everywhere, beta1 among the adam jobs).
  EXPECT_THAT(
      Labels(sweep),
      ElementsAre(
          "optimizer=gd lr=0.1 seed=0", "optimizer=gd lr=0.1 seed=1", "optimizer=gd lr=0.1 seed=2",
          "optimizer=gd lr=0.3 seed=0", "optimizer=gd lr=0.3 seed=1", "optimizer=gd lr=0.3 seed=2",
          "optimizer=adam beta1=0 lr=0.001 seed=0", "optimizer=adam beta1=0 lr=0.001 seed=1",
          "optimizer=adam beta1=0 lr=0.001 seed=2", "optimizer=adam beta1=0.9 lr=0.001 seed=0",
          "optimizer=adam beta1=0.9 lr=0.001 seed=1", "optimizer=adam beta1=0.9 lr=0.001 seed=2",
          "optimizer=sign_descent lr=0.001 seed=0", "optimizer=sign_descent lr=0.001 seed=1",
          "optimizer=sign_descent lr=0.001 seed=2"));
  const engine::TrainJob adam = Train(sweep.jobs[10].spec);
  EXPECT_EQ(adam.optimizer.name, "adam");
  EXPECT_EQ(GetDouble(adam.optimizer.params, "beta1"), 0.9);
  EXPECT_EQ(GetDouble(adam.optimizer.params, "lr"), 1e-3);
  EXPECT_EQ(adam.seed, 1u);
  EXPECT_EQ(GetInt(adam.dataset.params, "m"), 8);
  EXPECT_EQ(adam.trainer.steps, 300);
  EXPECT_TRUE(adam.trainer.eval_log_spaced);
}

TEST(SweepFileTest, TagsAndNoteDescribeTheSweepNotItsJobs) {
  const std::string body =
      "dataset: {name: heavy_tail_uniform, m: 3}\nmodel: {name: linear}\n"
      "optimizer: {name: gd, lr: [0.1, 0.2]}\n";
  SweepFile sweep = ParseOk("name: n\ntags: [paper1, lr-grid]\nnote: \"first: try\"\n" + body);
  EXPECT_EQ(sweep.name, "n");
  EXPECT_THAT(sweep.tags, ElementsAre("paper1", "lr-grid"));
  EXPECT_EQ(sweep.note, "first: try");
  ASSERT_EQ(sweep.jobs.size(), 2u);
  EXPECT_EQ(sweep.jobs[0].labels.count("tags"), 0u);
  EXPECT_THAT(ParseOk("tags: one\n" + body).tags, ElementsAre("one"));
  // Beside parts too, but not inside one.
  EXPECT_THAT(
      ParseOk("tags: [a]\nparts:\n  - " + absl::StrReplaceAll(body, {{"\n", "\n    "}})).tags,
      ElementsAre("a"));
  EXPECT_THAT(ErrorOf("tags: [ok, has space]\n" + body),
              HasSubstr("sweep.yaml:1: tags[1]: tag 'has space' is not 1..64 characters"));
  EXPECT_THAT(ErrorOf("tags: {a: 1}\n" + body), HasSubstr("sweep.yaml:1: tags: expected a tag"));
  EXPECT_THAT(ErrorOf("note: [a]\n" + body), HasSubstr("sweep.yaml:1: note: expected a string"));
  EXPECT_THAT(ErrorOf("note: " + std::string(5000, 'x') + "\n" + body),
              HasSubstr("note has 5000 bytes; at most 4096"));
  EXPECT_THAT(
      ErrorOf("parts:\n  - tags: [a]\n    " + absl::StrReplaceAll(body, {{"\n", "\n    "}})),
      HasSubstr("belongs at the top level"));
}

TEST(SweepFileTest, AxesExpandInFileOrderFirstSlowest) {
  // beta2 is written before beta1, so it varies slowest (not alphabetical order).
  const SweepFile sweep = ParseOk(
      absl::StrCat(kHeader, "optimizer: {name: adam, beta2: [0.99, 0.999], beta1: [0, 0.5]}\n"));
  EXPECT_THAT(Labels(sweep), ElementsAre("optimizer=adam beta1=0 beta2=0.99 seed=0",
                                         "optimizer=adam beta1=0.5 beta2=0.99 seed=0",
                                         "optimizer=adam beta1=0 beta2=0.999 seed=0",
                                         "optimizer=adam beta1=0.5 beta2=0.999 seed=0"));
}

TEST(SweepFileTest, DatasetAndModelSettingsAreOutermost) {
  const SweepFile sweep = ParseOk(R"(seed: [5, 1]
optimizer: {name: gd}
model: {name: linear, init: [zeros, uniform]}
dataset:
  - {name: heavy_tail_uniform, m: 3}
  - {name: zipf_gaussian, classes: 4}
)");
  // Parameters present in only one dataset's jobs (m, classes) take one value there: no label.
  EXPECT_THAT(Labels(sweep),
              ElementsAre("optimizer=gd dataset=heavy_tail_uniform model.init=zeros seed=5",
                          "optimizer=gd dataset=heavy_tail_uniform model.init=zeros seed=1",
                          "optimizer=gd dataset=heavy_tail_uniform model.init=uniform seed=5",
                          "optimizer=gd dataset=heavy_tail_uniform model.init=uniform seed=1",
                          "optimizer=gd dataset=zipf_gaussian model.init=zeros seed=5",
                          "optimizer=gd dataset=zipf_gaussian model.init=zeros seed=1",
                          "optimizer=gd dataset=zipf_gaussian model.init=uniform seed=5",
                          "optimizer=gd dataset=zipf_gaussian model.init=uniform seed=1"));
  EXPECT_EQ(GetInt(Train(sweep.jobs[4].spec).dataset.params, "classes"), 4);
  EXPECT_EQ(sweep.jobs[4].spec.seed, 5u);
}

TEST(SweepFileTest, SeedIsAnIntOrAnAxis) {
  SweepFile one = ParseOk(absl::StrCat(kHeader, "optimizer: {name: gd}\nseed: 7\n"));
  ASSERT_EQ(one.jobs.size(), 1u);
  EXPECT_EQ(one.jobs[0].spec.seed, 7u);
  EXPECT_EQ(one.jobs[0].labels, (JobLabels{{"optimizer", "gd"}, {"seed", "7"}}));

  SweepFile none = ParseOk(absl::StrCat(kHeader, "optimizer: {name: gd}\n"));
  ASSERT_EQ(none.jobs.size(), 1u);
  EXPECT_EQ(none.jobs[0].spec.seed, 0u);

  SweepFile axis =
      ParseOk(absl::StrCat(kHeader, "optimizer: {name: gd}\nseed: [3, 9007199254740992, 1]\n"));
  ASSERT_EQ(axis.jobs.size(), 3u);
  EXPECT_EQ(axis.jobs[0].spec.seed, 3u);
  EXPECT_EQ(axis.jobs[1].spec.seed, uint64_t{1} << 53);
  EXPECT_EQ(axis.jobs[2].spec.seed, 1u);
  EXPECT_EQ(axis.jobs[1].labels.at("seed"), "9007199254740992");
}

TEST(SweepFileTest, AlternativesCarryTheirOwnParameters) {
  const SweepFile sweep = ParseOk(absl::StrCat(kHeader, R"(optimizer:
  - {name: gd, momentum: 0.9}
  - {name: adam, eps: 1e-6, bias_correction: false}
)"));
  ASSERT_EQ(sweep.jobs.size(), 2u);
  // Every declared hyperparameter, defaults filled.
  EXPECT_EQ(Train(sweep.jobs[0].spec).optimizer.params.size(),
            (*engine::Catalog().Find(spec::ComponentKind::kOptimizer, "gd"))->params.size());
  EXPECT_EQ(GetDouble(Train(sweep.jobs[0].spec).optimizer.params, "momentum"), 0.9);
  EXPECT_EQ(GetDouble(Train(sweep.jobs[1].spec).optimizer.params, "eps"), 1e-6);
  EXPECT_FALSE(GetBool(Train(sweep.jobs[1].spec).optimizer.params, "bias_correction"));
  // lr differs (gd 0.1 vs adam 0.001 by default); momentum, eps and bias_correction exist in one
  // optimizer each and so tell nothing apart.
  EXPECT_EQ(sweep.jobs[0].labels, (JobLabels{{"optimizer", "gd"}, {"lr", "0.1"}, {"seed", "0"}}));
  EXPECT_EQ(sweep.jobs[1].labels,
            (JobLabels{{"optimizer", "adam"}, {"lr", "0.001"}, {"seed", "0"}}));
}

TEST(SweepFileTest, FillsDefaults) {
  const SweepFile sweep = ParseOk(R"(dataset: {name: heavy_tail_uniform}
model: {name: linear}
optimizer: {name: adam}
)");
  ASSERT_EQ(sweep.jobs.size(), 1u);
  const engine::TrainJob spec = Train(sweep.jobs[0].spec);
  EXPECT_EQ(GetInt(spec.dataset.params, "m"), 8);
  EXPECT_EQ(GetInt(spec.dataset.params, "data_seed"), 0);
  EXPECT_TRUE(GetBool(spec.model.params, "bias"));
  EXPECT_EQ(GetString(spec.model.params, "init"), "zeros");
  EXPECT_EQ(GetDouble(spec.optimizer.params, "lr"), 1e-3);
  EXPECT_EQ(GetDouble(spec.optimizer.params, "beta1"), 0.9);
  EXPECT_EQ(GetDouble(spec.optimizer.params, "beta2"), 0.999);
  EXPECT_EQ(GetDouble(spec.optimizer.params, "eps"), 1e-8);
  EXPECT_TRUE(GetBool(spec.optimizer.params, "bias_correction"));
  EXPECT_EQ(spec.trainer.steps, 100);
  EXPECT_EQ(spec.trainer.batch_size, 0);
  EXPECT_EQ(spec.trainer.chunk_rows, 4096);
  EXPECT_EQ(spec.trainer.eval_every, 10);
  EXPECT_FALSE(spec.trainer.eval_log_spaced);
}

TEST(SweepFileTest, ValidatedValuesTakeTheDeclaredType) {
  // An int where a double is declared is widened; 3.0 where an int is declared is accepted.
  const SweepFile sweep = ParseOk(R"(dataset: {name: heavy_tail_uniform, m: 3.0}
model: {name: linear}
optimizer: {name: gd, lr: 1}
trainer: {steps: 2.0}
)");
  ASSERT_EQ(sweep.jobs.size(), 1u);
  EXPECT_EQ(GetInt(Train(sweep.jobs[0].spec).dataset.params, "m"), 3);
  EXPECT_EQ(GetDouble(Train(sweep.jobs[0].spec).optimizer.params, "lr"), 1.0);
  EXPECT_EQ(Train(sweep.jobs[0].spec).trainer.steps, 2);
}

TEST(SweepFileTest, TrainerAxesAreLabelled) {
  const SweepFile sweep = ParseOk(
      absl::StrCat(kHeader, "optimizer: {name: gd}\ntrainer: {steps: [10, 20], batch_size: 4}\n"));
  EXPECT_THAT(Labels(sweep), ElementsAre("optimizer=gd trainer.steps=10 seed=0",
                                         "optimizer=gd trainer.steps=20 seed=0"));
  EXPECT_EQ(Train(sweep.jobs[1].spec).trainer.batch_size, 4);
}

TEST(SweepFileTest, LearningRateScheduleSettings) {
  const SweepFile sweep = ParseOk(absl::StrCat(
      kHeader, "optimizer: {name: adam}\n",
      "trainer: {steps: 100, schedule: [constant, cosine], warmup_steps: 10, min_lr_ratio: 0}\n"));
  ASSERT_EQ(sweep.jobs.size(), 2u);
  EXPECT_EQ(Train(sweep.jobs[0].spec).trainer.schedule, "constant");
  EXPECT_EQ(Train(sweep.jobs[1].spec).trainer.schedule, "cosine");
  EXPECT_EQ(Train(sweep.jobs[1].spec).trainer.warmup_steps, 10);
  EXPECT_EQ(Train(sweep.jobs[1].spec).trainer.min_lr_ratio, 0.0);
  EXPECT_EQ(sweep.jobs[1].labels.at("trainer.schedule"), "cosine");
  auto bad = ParseSweep(absl::StrCat(kHeader, "optimizer: {name: adam}\n",
                                     "trainer: {steps: 10,\n  schedule: cosin}\n"),
                        "s.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("trainer.schedule"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("cosin"), std::string::npos) << bad.status();
  bad = ParseSweep(absl::StrCat(kHeader, "optimizer: {name: adam}\n",
                                "trainer: {steps: 10, warmup_steps: 11}\n"),
                   "s.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("trainer.warmup_steps"), std::string::npos) << bad.status();
}

TEST(SweepFileTest, CheckpointEveryIsATrainerSettingUpToTheSteps) {
  const SweepFile sweep = ParseOk(absl::StrCat(kHeader, "optimizer: {name: adam}\n",
                                               "trainer: {steps: 100, checkpoint_every: 25}\n"));
  ASSERT_EQ(sweep.jobs.size(), 1u);
  EXPECT_EQ(Train(sweep.jobs[0].spec).trainer.checkpoint_every, 25);
  EXPECT_EQ(Train(ParseOk(absl::StrCat(kHeader, "optimizer: {name: adam}\n")).jobs[0].spec)
                .trainer.checkpoint_every,
            0);  // The worker's time-based policy.
  for (const char* bad_value : {"101", "-1"}) {
    auto bad =
        ParseSweep(absl::StrCat(kHeader, "optimizer: {name: adam}\n",
                                "trainer: {steps: 100, checkpoint_every: ", bad_value, "}\n"),
                   "s.yaml");
    ASSERT_FALSE(bad.ok()) << bad_value;
    EXPECT_NE(bad.status().message().find(absl::StrCat("trainer.checkpoint_every: ", bad_value)),
              std::string::npos)
        << bad.status();
  }
}

TEST(SweepFileTest, AuxOptimizerAppliesToEveryJob) {
  const SweepFile sweep =
      ParseOk(absl::StrCat(kHeader, "optimizer: {name: muon, lr: [0.01, 0.02]}\n",
                           "aux_optimizer: {name: paper2_adam, lr: 0.01}\n"));
  ASSERT_EQ(sweep.jobs.size(), 2u);
  for (const ExpandedJob& job : sweep.jobs) {
    ASSERT_TRUE(Train(job.spec).aux_optimizer.has_value());
    EXPECT_EQ(Train(job.spec).aux_optimizer->name, "paper2_adam");
    EXPECT_EQ(GetDouble(Train(job.spec).aux_optimizer->params, "lr"), 0.01);
  }
  // An error inside it names its line and field.
  auto bad = ParseSweep(absl::StrCat(kHeader, "optimizer: {name: muon}\n",
                                     "aux_optimizer:\n  name: adam\n  beta1: 2\n"),
                        "s.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "s.yaml:6: aux_optimizer.beta1: 2 is out of range; allowed [0, 1)");
  // One setting only.
  bad = ParseSweep(absl::StrCat(kHeader, "optimizer: {name: muon}\n",
                                "aux_optimizer: {name: adam, lr: [0.1, 0.2]}\n"),
                   "s.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("one setting"), std::string::npos) << bad.status();
}

TEST(SweepFileTest, NameDefaultsToTheSourceStem) {
  const std::string text = absl::StrCat(kHeader, "optimizer: {name: gd}\n");
  auto sweep = ParseSweep(text, "examples/paper1/fig2.v2.yaml");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->name, "fig2.v2");
  sweep = ParseSweep(text, "");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->name, "sweep");
  sweep = ParseSweep(absl::StrCat("name: mine\n", text), "a.yaml");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(sweep->name, "mine");
}

TEST(SweepFileTest, JsonGivesTheSameJobsAsYaml) {
  const SweepFile yaml = ParseOk(kExample);
  const SweepFile json = ParseOk(kExampleJson);
  EXPECT_EQ(json.name, yaml.name);
  ASSERT_EQ(json.jobs.size(), yaml.jobs.size());
  for (size_t i = 0; i < json.jobs.size(); ++i) {
    EXPECT_EQ(json.jobs[i].labels, yaml.jobs[i].labels) << i;
    EXPECT_EQ(Train(json.jobs[i].spec).optimizer.params, Train(yaml.jobs[i].spec).optimizer.params)
        << i;
    EXPECT_EQ(Train(json.jobs[i].spec).model.params, Train(yaml.jobs[i].spec).model.params) << i;
    EXPECT_EQ(json.jobs[i].spec.seed, yaml.jobs[i].spec.seed) << i;
  }
}

TEST(SweepFileTest, JsonErrorsNameTheirLine) {
  // A quoted JSON number is a string.
  EXPECT_EQ(ErrorOf(R"({
  "dataset": {"name": "heavy_tail_uniform"},
  "model": {"name": "linear"},
  "optimizer": {"name": "gd",
                "lr": "0.1"}
})"),
            "sweep.yaml:5: optimizer.lr: expected double, got '0.1'");
  EXPECT_EQ(
      ErrorOf(
          "{\"dataset\": {\"name\": \"heavy_tail_uniform\"},\n \"model\": {\"name\" \"linear\"}}"),
      "sweep.yaml:2: invalid YAML (column 19): end of map flow not found");
}

TEST(SweepFileTest, DuplicateJobsAreRefused) {
  EXPECT_EQ(ErrorOf(absl::StrCat(kHeader, R"(optimizer:
  - {name: adam}
  - {name: adam, lr: 0.001}
)")),
            "sweep.yaml:5: optimizer[1]: gives the same job as optimizer[0] (line 4); every job "
            "of a sweep must differ");
  EXPECT_EQ(ErrorOf(absl::StrCat(kHeader, "optimizer: {name: gd}\nseed: [0, 1, 0]\n")),
            "sweep.yaml:4: seed[2]: gives the same job as seed[0] (line 4); every job of a sweep "
            "must differ");
  EXPECT_EQ(
      ErrorOf(absl::StrCat(kHeader, "optimizer:\n  name: gd\n  lr:\n    - 0.1\n    - 1e-1\n")),
      "sweep.yaml:7: optimizer.lr[1]: gives the same job as optimizer.lr[0] (line 6); every "
      "job of a sweep must differ");
}

struct ErrorCase {
  const char* what;
  std::string text;
  std::string message;
};

// The registered names of `kind`, as the catalog lists them in messages (the catalog grows, so
// the expected messages are built from it rather than pinned).
std::string Known(spec::ComponentKind kind) {
  std::vector<std::string> names;
  for (const spec::ComponentSpec* c : engine::Catalog().List(kind)) names.push_back(c->name);
  return absl::StrJoin(names, ", ");
}

std::string KnownParams(spec::ComponentKind kind, const std::string& name) {
  std::vector<std::string> names;
  for (const spec::ParamSpec& p : (*engine::Catalog().Find(kind, name))->params) {
    names.push_back(p.name);
  }
  return absl::StrJoin(names, ", ");
}

// Every case starts from kHeader (lines 1-2) unless it is about the top level.
std::vector<ErrorCase> ErrorCases() {
  const std::string h = kHeader;
  const std::string optimizers = Known(spec::ComponentKind::kOptimizer);
  return {
      {"unknown top-level key", h + "optimizer: {name: gd}\noptimiser: {name: gd}\n",
       "sweep.yaml:4: optimiser: unknown top-level key; known: name, task, dataset, model, "
       "optimizer, aux_optimizer, objective, trainer, seed"},
      {"missing optimizer", h,
       "sweep.yaml:1: optimizer: missing; a sweep needs dataset, model and optimizer"},
      {"missing component name", h + "optimizer:\n  - {name: gd}\n  - {lr: 0.1}\n",
       "sweep.yaml:5: optimizer[1].name: missing; known optimizers: " + optimizers},
      {"null component name", h + "optimizer:\n  name:\n  lr: 0.1\n",
       "sweep.yaml:4: optimizer.name: missing; known optimizers: " + optimizers},
      {"unknown dataset", "model: {name: linear}\n\ndataset: {name: heavy_tail}\n",
       "sweep.yaml:3: dataset.name: unknown dataset 'heavy_tail'; known: " +
           Known(spec::ComponentKind::kDataset)},
      {"name given as a list", h + "optimizer: {name: [gd, adam]}\n",
       "sweep.yaml:3: optimizer.name: expected one optimizer name, got a list; alternatives are a "
       "list of mappings"},
      {"value out of range in an axis",
       h + "optimizer:\n  - {name: gd}\n  - name: adam\n    beta1:\n      - 0\n      - 1.5\n",
       "sweep.yaml:8: optimizer[1].beta1[1]: 1.5 is out of range; allowed [0, 1)"},
      {"value out of range", h + "optimizer:\n  - {name: gd}\n  - {name: adam, beta1: 1.5}\n",
       "sweep.yaml:5: optimizer[1].beta1: 1.5 is out of range; allowed [0, 1)"},
      {"unknown parameter", h + "optimizer:\n  name: gd\n  beta1: 0.9\n",
       "sweep.yaml:5: optimizer.beta1: unknown parameter of optimizer 'gd'; known: " +
           KnownParams(spec::ComponentKind::kOptimizer, "gd")},
      {"wrong type", h + "optimizer: {name: gd, lr: fast}\n",
       "sweep.yaml:3: optimizer.lr: expected double, got 'fast'"},
      {"quoted number", h + "optimizer: {name: gd, lr: '0.1'}\n",
       "sweep.yaml:3: optimizer.lr: expected double, got '0.1'"},
      {"yes is not a bool",
       "dataset: {name: heavy_tail_uniform}\nmodel: {name: linear, bias: yes}\n",
       "sweep.yaml:2: model.bias: expected bool, got 'yes'"},
      {"not a choice", "dataset: {name: heavy_tail_uniform}\nmodel: {name: linear, init: ones}\n",
       "sweep.yaml:2: model.init: 'ones' is not allowed; allowed one of zeros, uniform"},
      {"nan", h + "optimizer: {name: gd, lr: .nan}\n",
       "sweep.yaml:3: optimizer.lr: nan is not a finite number"},
      {"-inf", h + "optimizer: {name: gd, momentum: [0, -inf]}\n",
       "sweep.yaml:3: optimizer.momentum[1]: -inf is not a finite number"},
      {"huge double", h + "optimizer: {name: gd, lr: 1e999}\n",
       "sweep.yaml:3: optimizer.lr: inf is not a finite number"},
      {"non-integral int", "dataset: {name: heavy_tail_uniform, m: 3.5}\n",
       "sweep.yaml:1: dataset.m: expected int, got '3.5'"},
      {"null value", h + "optimizer:\n  name: gd\n  lr:\n  momentum: 0.5\n",
       "sweep.yaml:5: optimizer.lr: missing value"},
      {"null axis element", h + "optimizer: {name: gd, lr: [0.1, ~]}\n",
       "sweep.yaml:3: optimizer.lr[1]: missing value"},
      {"component as a scalar", "dataset: heavy_tail_uniform\n",
       "sweep.yaml:1: dataset: expected a mapping such as {name: heavy_tail_uniform} or a list of "
       "them, got 'heavy_tail_uniform'"},
      {"alternative as a scalar", h + "optimizer:\n  - {name: gd}\n  - adam\n",
       "sweep.yaml:5: optimizer[1]: expected a mapping such as {name: adam} or a list of them, got "
       "'adam'"},
      {"component missing value", h + "optimizer:\n",
       "sweep.yaml:3: optimizer: missing value; expected a mapping such as {name: " +
           engine::Catalog().List(spec::ComponentKind::kOptimizer)[0]->name +
           ", ...} or a list of them"},
      {"parameter as a mapping", h + "optimizer: {name: gd, lr: {min: 0.1}}\n",
       "sweep.yaml:3: optimizer.lr: expected a value or a list of values (a grid axis), got a "
       "mapping"},
      {"list in an axis", h + "optimizer: {name: gd, lr: [[0.1, 0.2]]}\n",
       "sweep.yaml:3: optimizer.lr[0]: expected a value, got a list (a list is a value only for "
       "int_list parameters)"},
      {"empty alternatives", h + "optimizer: []\n",
       "sweep.yaml:3: optimizer: empty list; give at least one alternative"},
      {"empty axis", h + "optimizer: {name: gd, lr: []}\n",
       "sweep.yaml:3: optimizer.lr: empty list; a grid axis needs at least one value"},
      {"empty seed list", h + "optimizer: {name: gd}\nseed: []\n",
       "sweep.yaml:4: seed: empty list; a grid axis needs at least one value"},
      {"duplicate key", h + "optimizer:\n  name: gd\n  lr: 0.1\n  lr: 0.2\n",
       "sweep.yaml:6: optimizer.lr: duplicate key; first at line 5"},
      {"duplicate top-level key", h + "optimizer: {name: gd}\nmodel: {name: linear}\n",
       "sweep.yaml:4: model: duplicate key; first at line 2"},
      {"non-integral seed", h + "optimizer: {name: gd}\nseed: [1, 2.5]\n",
       "sweep.yaml:4: seed[1]: 2.5 is not an integer; allowed integers in [0, 9007199254740992]"},
      {"negative seed", h + "optimizer: {name: gd}\nseed: -1\n",
       "sweep.yaml:4: seed: -1 is out of range; allowed integers in [0, 9007199254740992]"},
      {"seed above 2^53", h + "optimizer: {name: gd}\nseed: 9007199254740993\n",
       "sweep.yaml:4: seed: 9007199254740993 is out of range; allowed integers in [0, "
       "9007199254740992]"},
      {"seed beyond int64", h + "optimizer: {name: gd}\nseed: 1e30\n",
       "sweep.yaml:4: seed: 1e+30 is out of range; allowed integers in [0, 9007199254740992]"},
      {"seed not a number", h + "optimizer: {name: gd}\nseed: first\n",
       "sweep.yaml:4: seed: expected an integer, got 'first'; allowed integers in [0, "
       "9007199254740992]"},
      {"seed as a mapping", h + "optimizer: {name: gd}\nseed: {from: 0, to: 3}\n",
       "sweep.yaml:4: seed: expected a value or a list of values (a grid axis), got a mapping"},
      {"trainer as a list", h + "optimizer: {name: gd}\ntrainer: [1]\n",
       "sweep.yaml:4: trainer: expected a mapping such as {steps: 100, ...}, got a list"},
      {"unknown trainer setting", h + "optimizer: {name: gd}\ntrainer:\n  steps: 5\n  epochs: 3\n",
       "sweep.yaml:6: trainer.epochs: unknown trainer setting; known: steps, batch_size, "
       "chunk_rows, eval_every, eval_log_spaced, schedule, warmup_steps, min_lr_ratio, "
       "checkpoint_every, adversarial, adversarial_epsilon, adversarial_steps, "
       "adversarial_step_size, attack_epsilon, attack_pgd_steps, keep_model"},
      {"trainer int", h + "optimizer: {name: gd}\ntrainer: {steps: 1.5}\n",
       "sweep.yaml:4: trainer.steps: expected int, got '1.5'"},
      {"trainer bool", h + "optimizer: {name: gd}\ntrainer: {eval_log_spaced: yes}\n",
       "sweep.yaml:4: trainer.eval_log_spaced: expected bool, got 'yes'"},
      {"trainer range, found per job",
       h + "optimizer: {name: gd}\ntrainer:\n  steps: [10,\n    0]\n",
       "sweep.yaml:6: trainer.steps[1]: 0 is out of range; allowed [1, 1000000000]"},
      {"cross-field rule, found per job",
       "model: {name: linear}\noptimizer: {name: gd}\ndataset:\n  - {name: heavy_tail_uniform}\n"
       "  - {name: csv, label_column: y}\n",
       "sweep.yaml:5: dataset[1].train_path: required for dataset 'csv' (path of the training CSV "
       "file)"},
      {"unsupported tag", h + "optimizer: {name: gd, lr: !!float 1}\n",
       "sweep.yaml:3: optimizer.lr: unsupported tag '!!float'; leave the tag out, or quote the "
       "value for a string"},
      {"non-scalar key", h + "optimizer: {name: gd, [lr]: 1}\n",
       "sweep.yaml:3: optimizer: expected a plain key, got a list"},
      {"name not a string", h + "optimizer: {name: gd}\nname: [a]\n",
       "sweep.yaml:4: name: expected a non-empty string, got a list"},
      {"top level is a list", "- {name: gd}\n",
       "sweep.yaml:1: expected a mapping with dataset, model and optimizer at the top level, got a "
       "list"},
      {"empty file", "# nothing here\n",
       "sweep.yaml:1: empty sweep file; expected a mapping with dataset, model and optimizer"},
      {"two documents", h + "optimizer: {name: gd}\n---\nseed: 1\n",
       "sweep.yaml:4: a second YAML document (or stray text after the first); a sweep file holds "
       "exactly one"},
      {"stray comma after a JSON document", std::string(kExampleJson) + ",\n",
       "sweep.yaml:12: a second YAML document (or stray text after the first); a sweep file holds "
       "exactly one"},
      {"only a comma", ",",
       "sweep.yaml:1: a second YAML document (or stray text after the first); "
       "a sweep file holds exactly one"},
  };
}

TEST(SweepFileTest, ErrorsNameSourceLineAndField) {
  for (const ErrorCase& c : ErrorCases()) {
    EXPECT_EQ(ErrorOf(c.text), c.message) << c.what << "\n" << c.text;
  }
}

TEST(SweepFileTest, YamlSyntaxErrorsNameTheirLine) {
  EXPECT_EQ(ErrorOf(absl::StrCat(kHeader, "optimizer: {name: gd, lr: [0.1, 0.2}\n")),
            "sweep.yaml:3: invalid YAML (column 36): illegal flow end");
  EXPECT_THAT(ErrorOf(absl::StrCat(kHeader, "optimizer:\n  name: gd\n lr: 0.1\n")),
              HasSubstr("sweep.yaml:5: invalid YAML"));
  EXPECT_THAT(ErrorOf(absl::StrCat(kHeader, "optimizer: {name: gd}\nseed: *nowhere\n")),
              HasSubstr("sweep.yaml:4: invalid YAML"));
  // Deep nesting is refused by yaml-cpp's depth guard, not a stack overflow.
  EXPECT_THAT(ErrorOf(std::string(100000, '[')), HasSubstr("sweep.yaml:1: invalid YAML"));
}

TEST(SweepFileTest, CapsTheNumberOfJobsBeforeExpanding) {
  const std::string text =
      absl::StrCat(kHeader, "optimizer:\n  - {name: gd, lr: [0.1, 0.2, 0.3]}\n  - {name: adam}\n",
                   "seed: [0, 1, 2, 3, 4]\n");
  ParseOptions options;
  options.max_jobs = 20;
  EXPECT_EQ(ParseOk(text, options).jobs.size(), 20u);
  options.max_jobs = 19;
  auto sweep = ParseSweep(text, "sweep.yaml", options);
  EXPECT_EQ(sweep.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sweep.status().message(),
            "sweep.yaml:1: the sweep expands to 20 jobs (1 dataset x 1 model x 4 optimizer x 1 "
            "trainer settings x 5 seeds), more than max_jobs = 19");

  // One axis alone over the cap is refused before its values are read.
  options.max_jobs = 4;
  sweep = ParseSweep(text, "sweep.yaml", options);
  EXPECT_EQ(sweep.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sweep.status().message(),
            "sweep.yaml:6: seed: a grid axis of 5 values, more than max_jobs = 4");
}

TEST(SweepFileTest, CountingSaturatesInsteadOfOverflowing) {
  // 100^10 = 1e20 jobs: more than int64 holds.
  auto axis = [](double start, double step) {
    std::vector<std::string> v;
    for (int i = 0; i < 100; ++i) v.push_back(absl::StrCat(start + step * i));
    return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
  };
  const std::string text = absl::StrCat(
      "dataset: {name: zipf_gaussian, classes: ", axis(2, 1), ", alpha: ", axis(0, 0.01),
      ", min_samples: ", axis(1, 1), ", noise: ", axis(0, 0.5), ", test_fraction: ", axis(0, 0.01),
      ", data_seed: ", axis(0, 1), "}\nmodel: {name: linear}\n",
      "optimizer: {name: adam, lr: ", axis(0.001, 0.001), ", beta1: ", axis(0, 0.001),
      ", beta2: ", axis(0, 0.001), ", eps: ", axis(1e-9, 1e-9), "}\n");
  auto sweep = ParseSweep(text, "sweep.yaml");
  EXPECT_EQ(sweep.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sweep.status().message(),
            "sweep.yaml:1: the sweep expands to more than 9223372036854775806 jobs (1000000000000 "
            "dataset x 1 model x 100000000 optimizer x 1 trainer settings x 1 seeds), more than "
            "max_jobs = 10000");
}

TEST(SweepFileTest, GarbledInputNeverThrows) {
  // Truncations and random edits of valid files must give a status (OK or a clean error) and
  // never let an exception out or crash.
  std::vector<std::string> inputs;
  for (const std::string& base : {std::string(kExample), std::string(kExampleJson)}) {
    for (size_t n = 0; n <= base.size(); ++n) inputs.push_back(base.substr(0, n));
    std::mt19937 rng(1234);
    const std::string alphabet = "[]{}:,-'\"\n #&*!|>?0.e9x";
    for (int i = 0; i < 1500; ++i) {
      std::string s = base;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = rng() % s.size();
        switch (rng() % 3) {
          case 0:
            s[pos] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            s.erase(pos, 1 + rng() % 8);
            break;
          default:
            s.insert(pos, s.substr(rng() % s.size(), 1 + rng() % 16));
            break;
        }
        if (s.empty()) s = "x";
      }
      inputs.push_back(s);
    }
  }
  int ok = 0;
  for (const std::string& input : inputs) {
    absl::StatusOr<SweepFile> sweep = absl::InternalError("not run");
    EXPECT_NO_THROW(sweep = ParseSweep(input, "sweep.yaml")) << input;
    if (sweep.ok()) {
      ++ok;
      EXPECT_FALSE(sweep->jobs.empty()) << input;
      continue;
    }
    EXPECT_TRUE(sweep.status().code() == absl::StatusCode::kInvalidArgument ||
                sweep.status().code() == absl::StatusCode::kResourceExhausted)
        << sweep.status() << "\n"
        << input;
    EXPECT_THAT(std::string(sweep.status().message()),
                ::testing::MatchesRegex("sweep\\.yaml:[1-9][0-9]*: .*"))
        << input;
  }
  EXPECT_GT(ok, 0);  // Some edits (in comments, whitespace) leave a valid file.
}

// The values of `yaml`, expected to parse.
std::vector<ParamValue> Values(const std::string& yaml, ParamType type) {
  auto values = ParseParamValues(yaml, type);
  EXPECT_TRUE(values.ok()) << values.status();
  return values.ok() ? *values : std::vector<ParamValue>();
}

TEST(SweepValuesTest, TypesPlainScalarsByText) {
  EXPECT_EQ(TypePlainScalar("3"), ParamValue(int64_t{3}));
  EXPECT_EQ(TypePlainScalar("-4"), ParamValue(int64_t{-4}));
  EXPECT_EQ(TypePlainScalar("+2"), ParamValue(int64_t{2}));
  EXPECT_EQ(TypePlainScalar("007"), ParamValue(int64_t{7}));
  EXPECT_EQ(TypePlainScalar("3.0"), ParamValue(3.0));
  EXPECT_EQ(TypePlainScalar("3."), ParamValue(3.0));
  EXPECT_EQ(TypePlainScalar("1e-3"), ParamValue(1e-3));
  EXPECT_EQ(TypePlainScalar("1E3"), ParamValue(1000.0));
  EXPECT_EQ(TypePlainScalar(".5"), ParamValue(0.5));
  EXPECT_EQ(TypePlainScalar("-.5e+1"), ParamValue(-5.0));
  EXPECT_EQ(TypePlainScalar("99999999999999999999"), ParamValue(1e20));
  EXPECT_EQ(TypePlainScalar("1e999"), ParamValue(HUGE_VAL));
  EXPECT_EQ(TypePlainScalar("-1e999"), ParamValue(-HUGE_VAL));
  EXPECT_EQ(TypePlainScalar("1e-999"), ParamValue(0.0));
  EXPECT_EQ(TypePlainScalar("-inf"), ParamValue(-HUGE_VAL));
  EXPECT_EQ(TypePlainScalar(".Inf"), ParamValue(HUGE_VAL));
  EXPECT_TRUE(std::isnan(std::get<double>(TypePlainScalar(".nan"))));
  EXPECT_TRUE(std::isnan(std::get<double>(TypePlainScalar("NaN"))));
  EXPECT_EQ(TypePlainScalar("true"), ParamValue(true));
  EXPECT_EQ(TypePlainScalar("FALSE"), ParamValue(false));
  for (const char* s : {"yes", "no", "on", "1_000", "0x10", ".", "-", "e5", "1e", "1.2.3", "3 4",
                        "infinity", "tRue", ""}) {
    EXPECT_EQ(TypePlainScalar(s), ParamValue(std::string(s))) << s;
  }
}

TEST(SweepValuesTest, QuotedAndTaggedScalarsAreStrings) {
  EXPECT_THAT(Values("'3'", ParamType::kDouble), ElementsAre(ParamValue(std::string("3"))));
  EXPECT_THAT(Values("\"true\"", ParamType::kBool), ElementsAre(ParamValue(std::string("true"))));
  EXPECT_THAT(Values("!!str 4", ParamType::kInt), ElementsAre(ParamValue(std::string("4"))));
  EXPECT_THAT(Values("[1, '2', 3.5]", ParamType::kDouble),
              ElementsAre(ParamValue(int64_t{1}), ParamValue(std::string("2")), ParamValue(3.5)));
}

TEST(SweepValuesTest, IntListTakesAListAsOneValueAndAListOfListsAsAnAxis) {
  using Ints = std::vector<int64_t>;
  EXPECT_THAT(Values("[128, 64]", ParamType::kIntList), ElementsAre(ParamValue(Ints{128, 64})));
  EXPECT_THAT(Values("[[128], [128, 64], []]", ParamType::kIntList),
              ElementsAre(ParamValue(Ints{128}), ParamValue(Ints{128, 64}), ParamValue(Ints{})));
  EXPECT_THAT(Values("[]", ParamType::kIntList), ElementsAre(ParamValue(Ints{})));
  EXPECT_THAT(Values("- 1\n- 2\n", ParamType::kIntList), ElementsAre(ParamValue(Ints{1, 2})));
  // A scalar stays a scalar; the catalog then refuses it as not an int_list.
  EXPECT_THAT(Values("128", ParamType::kIntList), ElementsAre(ParamValue(int64_t{128})));
  // The same lists for any other type are an axis, or refused.
  EXPECT_THAT(Values("[128, 64]", ParamType::kInt),
              ElementsAre(ParamValue(int64_t{128}), ParamValue(int64_t{64})));
  EXPECT_EQ(ParseParamValues("[[128]]", ParamType::kInt).status().message(),
            "<input>:1: value[0]: expected a value, got a list (a list is a value only for "
            "int_list parameters)");
  EXPECT_EQ(ParseParamValues("[]", ParamType::kInt).status().message(),
            "<input>:1: value: empty list; a grid axis needs at least one value");

  EXPECT_EQ(ParseParamValues("[[1], 2]", ParamType::kIntList).status().message(),
            "<input>:1: value: mixes lists and scalars; an int_list value is a list of integers "
            "and a grid axis of them a list of such lists");
  EXPECT_EQ(ParseParamValues("[1, 2.5]", ParamType::kIntList).status().message(),
            "<input>:1: value[1]: expected an integer, got '2.5'");
  EXPECT_EQ(ParseParamValues("- [1]\n- [2, x]\n", ParamType::kIntList).status().message(),
            "<input>:2: value[1][1]: expected an integer, got 'x'");
  EXPECT_EQ(ParseParamValues("[[1, [2]]]", ParamType::kIntList).status().message(),
            "<input>:1: value[0][1]: expected an integer, got a list");
}

spec::JobSpec Validated(const std::string& optimizer, double lr, uint64_t seed, int64_t m = 3) {
  engine::TrainJob job;
  job.dataset = {"heavy_tail_uniform", {{"m", m}}};
  job.model = {"linear", {}};
  job.optimizer = {optimizer, {{"lr", lr}}};
  job.seed = seed;
  auto validated = engine::Catalog().Validate(job.ToSpec());
  EXPECT_TRUE(validated.ok()) << validated.status();
  return *validated;
}

TEST(SweepLabelsTest, LabelsOptimizerSeedAndWhatVaries) {
  EXPECT_THAT(LabelJobs({Validated("gd", 0.1, 0)}),
              ElementsAre(JobLabels{{"optimizer", "gd"}, {"seed", "0"}}));
  EXPECT_THAT(LabelJobs({Validated("gd", 0.1, 0), Validated("gd", 0.1, 1)}),
              ElementsAre(JobLabels{{"optimizer", "gd"}, {"seed", "0"}},
                          JobLabels{{"optimizer", "gd"}, {"seed", "1"}}));
  EXPECT_THAT(LabelJobs({Validated("gd", 0.1, 0), Validated("adam", 0.1, 0, 4)}),
              ElementsAre(JobLabels{{"optimizer", "gd"}, {"seed", "0"}, {"dataset.m", "3"}},
                          JobLabels{{"optimizer", "adam"}, {"seed", "0"}, {"dataset.m", "4"}}));
  EXPECT_THAT(LabelJobs({Validated("gd", 0.1, 0), Validated("gd", 1e-08, 0)}),
              ElementsAre(JobLabels{{"optimizer", "gd"}, {"seed", "0"}, {"lr", "0.1"}},
                          JobLabels{{"optimizer", "gd"}, {"seed", "0"}, {"lr", "1e-08"}}));
  EXPECT_TRUE(LabelJobs({}).empty());
}

TEST(SweepLabelsTest, FormatsOptimizerFirstAndSeedLast) {
  EXPECT_EQ(FormatLabels({{"seed", "2"}, {"lr", "0.1"}, {"optimizer", "adam"}, {"beta1", "0"}}),
            "optimizer=adam beta1=0 lr=0.1 seed=2");
  EXPECT_EQ(FormatLabels({}), "");
}

// Several tasks in one sweep: each part is a sweep body; the jobs are theirs, in order.
constexpr char kParts[] = R"(name: two_tasks
parts:
  - task: convex_relu
    dataset: {name: zipf_gaussian, classes: 2}
    convex: {patterns: [10, 20]}
  - dataset: {name: heavy_tail_uniform, m: 3}
    model: {name: linear}
    optimizer: {name: gd, lr: 0.1}
    seed: [0, 1]
)";

TEST(SweepFileTest, PartsJoinSweepsOfDifferentTasks) {
  const SweepFile sweep = ParseOk(kParts);
  EXPECT_EQ(sweep.name, "two_tasks");
  ASSERT_EQ(sweep.jobs.size(), 4u);
  EXPECT_EQ(sweep.jobs[0].spec.task, "convex_relu");
  EXPECT_EQ(spec::GetInt(sweep.jobs[1].spec.settings, "patterns"), 20);
  EXPECT_EQ(sweep.jobs[2].spec.task, "train");
  EXPECT_EQ(sweep.jobs[3].spec.seed, 1u);
  // Labels tell the tasks apart.
  EXPECT_THAT(Labels(sweep)[0], HasSubstr("task=convex_relu"));
  EXPECT_THAT(Labels(sweep)[2], HasSubstr("task=train"));
}

TEST(SweepFileTest, PartsErrorsNameTheirPlace) {
  EXPECT_THAT(ErrorOf("parts: {task: train}\n"), HasSubstr("parts: expected a list"));
  EXPECT_THAT(ErrorOf("parts: []\n"), HasSubstr("parts: expected a list"));
  EXPECT_THAT(
      ErrorOf("seed: 1\nparts:\n  - {task: train}\n"),
      HasSubstr("sweep.yaml:1: seed: a sweep with parts takes only name, tags, note and parts"));
  EXPECT_THAT(ErrorOf("parts:\n  - name: x\n    task: train\n"),
              HasSubstr("parts[0].name: belongs at the top level"));
  EXPECT_THAT(ErrorOf("parts:\n  - 3\n"), HasSubstr("parts[0]: expected a mapping"));
  const std::string part =
      "  - dataset: {name: heavy_tail_uniform, m: 3}\n"
      "    model: {name: linear}\n"
      "    optimizer: {name: gd}\n";
  EXPECT_THAT(ErrorOf("parts:\n" + part + part), HasSubstr("parts[1]: repeats a job of parts[0]"));
  // An error inside a part names its line and field as in any sweep.
  EXPECT_THAT(ErrorOf("parts:\n  - task: convex_relu\n    dataset: {name: zipf_gaussian, "
                      "classes: 2}\n    convex: {epsilon: -1}\n"),
              HasSubstr("sweep.yaml:4: convex.epsilon"));
  ParseOptions small;
  small.max_jobs = 3;
  absl::StatusOr<SweepFile> too_many = ParseSweep(kParts, "sweep.yaml", small);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(too_many.status().message()), HasSubstr("max_jobs = 1"));
}

// Every example sweep in the repository parses and validates.
TEST(SweepFileTest, ExampleSweepsParse) {
  const std::filesystem::path dir = std::filesystem::path(OPTBENCH_SOURCE_DIR) / "examples";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<SweepFile> sweep = ParseSweep(text.str(), entry.path().string());
    EXPECT_TRUE(sweep.ok()) << sweep.status();
  }
  EXPECT_GE(files, 8);
}

// ---- sources (tasks that work on another job's kept model) ----------------------------------

// Against the engine's catalog plus the test task refine (tests/testing/source_catalog.h).
absl::StatusOr<SweepFile> ParseWithSources(const std::string& text) {
  return sweep::ParseSweep(text, "refine.yaml", optbench::testing::SourceCatalog());
}

std::string SourceErrorOf(const std::string& text) {
  absl::StatusOr<SweepFile> sweep = ParseWithSources(text);
  if (sweep.ok()) return "";
  EXPECT_EQ(sweep.status().code(), absl::StatusCode::kInvalidArgument) << sweep.status();
  return std::string(sweep.status().message());
}

TEST(SweepFileTest, SourceIsAJobIdOrASweepFilterOrAListOfThem) {
  absl::StatusOr<SweepFile> sweep = ParseWithSources("task: refine\nsource: s-1a2b3c4d-0\n");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  ASSERT_EQ(sweep->jobs.size(), 1u);
  EXPECT_EQ(GetString(sweep->jobs[0].spec.settings, spec::kSourceSetting), "s-1a2b3c4d-0");
  EXPECT_EQ(sweep->jobs[0].labels.at("source"), "s-1a2b3c4d-0");

  sweep = ParseWithSources(
      "task: refine\nsource: {sweep: paper5_train, optimizer: adam, optimizer.lr: 1e-3}\n");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(GetString(sweep->jobs[0].spec.settings, spec::kSourceSetting),
            "sweep=paper5_train,optimizer=adam,optimizer.lr=1e-3");

  // A list is a grid axis, like any list value; written as the setting it works the same.
  sweep = ParseWithSources(
      "task: refine\nsource: [s-1a2b3c4d-0, {sweep: s-1a2b3c4d}]\nrefine: {steps: [1, 2]}\n");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  ASSERT_EQ(sweep->jobs.size(), 4u);
  EXPECT_EQ(GetString(sweep->jobs[1].spec.settings, spec::kSourceSetting), "sweep=s-1a2b3c4d");
  sweep = ParseWithSources("task: refine\nrefine: {source: s-1a2b3c4d-0}\n");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(GetString(sweep->jobs[0].spec.settings, spec::kSourceSetting), "s-1a2b3c4d-0");
}

TEST(SweepFileTest, SourceErrorsNameTheirLineAndWhatIsAllowed) {
  const std::string train =
      "dataset: {name: heavy_tail_uniform}\nmodel: {name: linear}\noptimizer: {name: gd}\n";
  EXPECT_EQ(ErrorOf(train + "source: s-1a2b3c4d-0\n"),
            "sweep.yaml:4: source: task 'train' takes no source; tasks that work on another "
            "job's kept model: quantize");
  EXPECT_EQ(SourceErrorOf(train + "source: s-1a2b3c4d-0\n"),
            "refine.yaml:4: source: task 'train' takes no source; tasks that work on another "
            "job's kept model: quantize, refine");
  EXPECT_EQ(SourceErrorOf("task: refine\nsource: {optimizer: adam}\n"),
            "refine.yaml:2: source: a filter names its sweep: {sweep: <id or name>, ...}");
  EXPECT_EQ(SourceErrorOf("task: refine\nsource: {sweep: s, optimizer: [adam, sgd]}\n"),
            "refine.yaml:2: source.optimizer: expected a value, got a list");
  EXPECT_THAT(SourceErrorOf("task: refine\nsource: s-1 and more\n"),
              HasSubstr("refine.yaml:2: source: 's-1 and more': not a job id"));
  EXPECT_EQ(SourceErrorOf("task: refine\nsource:\n"),
            "refine.yaml:2: source: missing value; expected a job id or {sweep: <id or name>, "
            "<label>: <value>}");
  EXPECT_EQ(SourceErrorOf("task: refine\nrefine: {source: s-1-0}\nsource: s-2-0\n"),
            "refine.yaml:3: source: given twice: here and as refine.source");
  EXPECT_EQ(SourceErrorOf("task: refine\n"), "refine.yaml:1: source: missing");
}

TEST(SweepLabelsTest, AJobThatWorksOnASourceIsLabelledByItsSource) {
  const spec::Catalog& catalog = optbench::testing::SourceCatalog();
  std::vector<spec::JobSpec> specs(2);
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].task = "refine";
    specs[i].settings[spec::kSourceSetting] = absl::StrCat("s-1a2b3c4d-", i);
    specs[i].settings[spec::kSourceSeedSetting] = int64_t{7};
    specs[i].components["dataset"] = {"heavy_tail_uniform", {{"m", static_cast<int64_t>(3 + i)}}};
    specs[i].components["model"] = {"linear", {}};
    auto validated = catalog.Validate(specs[i]);
    ASSERT_TRUE(validated.ok()) << validated.status();
    specs[i] = *validated;
  }
  // The copied data set differs, but the source stands for it; of the source's labels, what
  // varies.
  const std::vector<JobLabels> labels = sweep::LabelJobs(
      catalog, specs,
      {{{"optimizer", "adam"}, {"seed", "0"}}, {{"optimizer", "sgd"}, {"seed", "0"}}});
  EXPECT_EQ(labels[0],
            (JobLabels{{"source", "s-1a2b3c4d-0"}, {"source.optimizer", "adam"}, {"seed", "0"}}));
  EXPECT_EQ(labels[1].at("source.optimizer"), "sgd");
}

TEST(SweepLabelsTest, JobFieldsNameEveryFieldAlsoByItsLongName) {
  absl::StatusOr<SweepFile> sweep = ParseSweep(kExample, "example.yaml");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  const JobLabels fields = JobFields(engine::Catalog(), sweep->jobs[0].spec);
  EXPECT_EQ(fields.at("optimizer"), "gd");
  EXPECT_EQ(fields.at("optimizer.name"), "gd");
  EXPECT_EQ(fields.at("lr"), "0.1");
  EXPECT_EQ(fields.at("optimizer.lr"), "0.1");
  EXPECT_EQ(fields.at("model"), "linear");
  EXPECT_EQ(fields.at("dataset.m"), "8");
  EXPECT_EQ(fields.at("trainer.steps"), "300");
  EXPECT_EQ(fields.at("seed"), "0");
}

}  // namespace
}  // namespace optbench::sweep
