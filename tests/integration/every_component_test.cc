// Everything that validates also runs: every registered optimizer with each of its variants,
// every model, every data set and every objective, read from the catalog (a component added
// later is covered without touching this file), trains for a few steps through the real path —
// sweep text, an optbench-coordinator process, an optbench-worker process — and succeeds. Only
// names are given, plus what a component cannot run without (a file for csv and npy) and sizes
// that keep the heaviest defaults (60,000 images, 10,240 barcoded classes) quick.
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "tests/integration/service_fixture.h"
#include "worker/engine/catalog.h"
#include "worker/engine/run_job.h"
#include "worker/engine/task/train.h"

namespace optbench::testing {
namespace {

using spec::ComponentKind;

// A component as a sweep-file mapping: "{name: adam, variant: paper}".
std::string Mapping(const std::string& name, const std::map<std::string, std::string>& params) {
  std::vector<std::string> parts = {absl::StrCat("name: ", name)};
  for (const auto& [k, v] : params) parts.push_back(absl::StrCat(k, ": ", v));
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

class EveryComponentTest : public ServiceFixture {
 protected:
  // What a data set needs to run quickly here; anything not listed runs with its defaults.
  std::map<std::string, std::string> DatasetParams(const std::string& name) {
    if (name == "csv") {
      const std::string path = dir_ + "/train.csv";
      std::ofstream out(path);
      out << "a,b,label\n";
      for (int i = 0; i < 12; ++i) out << i * 0.5 << "," << 1 - i * 0.25 << "," << i % 3 << "\n";
      return {{"train_path", "'" + path + "'"}};
    }
    if (name == "npy") return WriteNpy();
    if (name == "fashion_mnist") return {{"max_train", "256"}};
    if (name == "barcoded_fashion_mnist") {
      return {{"barcode_bits", "1"}, {"per_class", "1"}, {"max_original", "200"}};
    }
    if (name == "text") return {{"max_train_examples", "200"}, {"max_test_examples", "50"}};
    if (name == "heavy_tail_uniform") return {{"m", "3"}};
    return {};
  }

  // 10 rows of 4 float64 features and int64 labels in [0, 3), as NumPy writes them.
  std::map<std::string, std::string> WriteNpy() {
    auto write = [&](const std::string& path, const std::string& descr, const std::string& shape,
                     const std::vector<char>& data) {
      std::string header = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, ",
                                        "'shape': ", shape, ", }");
      while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
      header.push_back('\n');
      std::ofstream out(path, std::ios::binary);
      out.write("\x93NUMPY\x01\x00", 8);
      const uint16_t len = static_cast<uint16_t>(header.size());
      out.put(static_cast<char>(len & 0xff));
      out.put(static_cast<char>(len >> 8));
      out << header;
      out.write(data.data(), static_cast<std::streamsize>(data.size()));
    };
    std::vector<char> features(10 * 4 * 8), labels(10 * 8);
    for (int i = 0; i < 40; ++i) {
      const double v = 0.1 * i;
      std::memcpy(&features[static_cast<size_t>(i) * 8], &v, 8);
    }
    for (int i = 0; i < 10; ++i) {
      const int64_t v = i % 3;
      std::memcpy(&labels[static_cast<size_t>(i) * 8], &v, 8);
    }
    write(dir_ + "/x.npy", "<f8", "(10, 4)", features);
    write(dir_ + "/y.npy", "<i8", "(10,)", labels);
    return {{"features_path", "'" + dir_ + "/x.npy'"}, {"labels_path", "'" + dir_ + "/y.npy'"}};
  }

  // The sweep of one job of `task` (the default) from sweep-file mappings.
  static std::string Sweep(const std::string& name, const std::string& dataset,
                           const std::string& model, const std::string& optimizers,
                           const std::string& extra = "") {
    return absl::StrCat("name: ", name, "\ndataset: ", dataset, "\nmodel: ", model,
                        "\noptimizer: ", optimizers, "\n", extra,
                        "trainer: {steps: 3, batch_size: 8, eval_every: 100}\n");
  }

  // The first data set (with DatasetParams) that the catalog accepts with `model` and
  // `objective`, or "" when none does.
  std::string DatasetFor(const std::string& model, const std::string& objective) {
    for (const spec::ComponentSpec* d : engine::Catalog().List(ComponentKind::kDataset)) {
      if (d->name == "csv" || d->name == "npy") continue;  // Files are made for their own job.
      engine::TrainJob job;
      job.dataset = {d->name, {}};
      job.model = {model, {}};
      job.optimizer = {"adam", {}};
      job.objective = {objective, {}};
      job.trainer.batch_size = 8;
      if (engine::Catalog().Validate(job.ToSpec()).ok()) {
        return Mapping(d->name, DatasetParams(d->name));
      }
    }
    return "";
  }

  // A model the catalog accepts on data set `dataset_name` with the default objective: the
  // cheapest first (linear), then the others in name order.
  static std::string ModelFor(const std::string& dataset_name) {
    if (dataset_name == "csv" || dataset_name == "npy") return "{name: linear}";  // No files yet.
    std::vector<std::string> models = {"linear"};
    for (const spec::ComponentSpec* m : engine::Catalog().List(ComponentKind::kModel)) {
      if (m->name != "linear") models.push_back(m->name);
    }
    for (const std::string& model : models) {
      engine::TrainJob job;
      job.dataset = {dataset_name, {}};
      job.model = {model, {}};
      job.optimizer = {"adam", {}};
      job.trainer.batch_size = 8;
      if (engine::Catalog().Validate(job.ToSpec()).ok()) return Mapping(model, {});
    }
    return "";
  }

  // Submits every sweep, waits for all of them and checks that every job succeeded.
  void RunAll(const std::vector<std::string>& sweeps) {
    std::vector<std::string> ids;
    for (const std::string& text : sweeps) {
      v1::SubmitSweepResponse submitted = Submit(text);
      ASSERT_FALSE(submitted.sweep().id().empty()) << text;
      ids.push_back(submitted.sweep().id());
      // What --dry-run states, each job's memory estimate, is computed for every job.
      for (const v1::Job& job : submitted.jobs()) {
        absl::StatusOr<spec::JobSpec> spec = proto::FromProto(job.spec());
        ASSERT_TRUE(spec.ok());
        EXPECT_TRUE(engine::EstimatePeakMemoryBytes(*spec).ok()) << text;
      }
    }
    int jobs = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      for (const v1::Job& job : WaitForSweep(ids[i], absl::Minutes(4))) {
        ++jobs;
        EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED)
            << job.id() << " " << v1::JobState_Name(job.state()) << ": " << job.error() << "\n"
            << sweeps[i];
        EXPECT_EQ(job.progress_step(), 3) << job.id();
        EXPECT_GT(job.metrics_size(), 0) << job.id() << ": its run declared no metrics";
      }
    }
    EXPECT_GT(jobs, 0);
  }
};

TEST_F(EveryComponentTest, EveryOptimizerAndEachOfItsVariantsTrains) {
  StartCoordinator();
  StartWorker("w", {"--slots=2"});
  std::vector<std::string> alternatives;
  for (const spec::ComponentSpec* o : engine::Catalog().List(ComponentKind::kOptimizer)) {
    alternatives.push_back(Mapping(o->name, {}));
    // Each non-default choice of each choice parameter (variants, coefficient schedules, ...).
    for (const spec::ParamSpec& p : o->params) {
      for (const std::string& choice : p.choices) {
        if (spec::ParamValue(choice) != p.default_value) {
          alternatives.push_back(Mapping(o->name, {{p.name, choice}}));
        }
      }
    }
  }
  ASSERT_GE(alternatives.size(), 25u);
  const std::string optimizers = absl::StrCat("[", absl::StrJoin(alternatives, ", "), "]");
  // Every optimizer alone, and every optimizer as the hidden-matrix group beside paper 2's
  // auxiliary Adam (parameter groups).
  RunAll({Sweep("optimizers", "{name: heavy_tail_uniform, m: 3}", "{name: mlp}", optimizers),
          Sweep("optimizer_groups", "{name: heavy_tail_uniform, m: 3}", "{name: mlp}", optimizers,
                "aux_optimizer: {name: paper2_adam}\n")});
}

TEST_F(EveryComponentTest, EveryModelDataSetAndObjectiveTrains) {
  StartCoordinator();
  StartWorker("w", {"--slots=2"});
  std::vector<std::string> sweeps;
  for (const spec::ComponentSpec* m : engine::Catalog().List(ComponentKind::kModel)) {
    const std::string dataset = DatasetFor(m->name, "cross_entropy");
    ASSERT_FALSE(dataset.empty()) << "no data set runs model " << m->name;
    sweeps.push_back(Sweep("model_" + m->name, dataset, Mapping(m->name, {}), "{name: adam}"));
  }
  for (const spec::ComponentSpec* d : engine::Catalog().List(ComponentKind::kDataset)) {
    const std::string model = ModelFor(d->name);
    ASSERT_FALSE(model.empty()) << "no model runs data set " << d->name;
    sweeps.push_back(Sweep("dataset_" + d->name, Mapping(d->name, DatasetParams(d->name)), model,
                           "{name: adam}"));
  }
  for (const spec::ComponentSpec* o : engine::Catalog().List(ComponentKind::kObjective)) {
    // The first model with a data set that the objective accepts.
    std::string dataset, model;
    for (const spec::ComponentSpec* m : engine::Catalog().List(ComponentKind::kModel)) {
      dataset = DatasetFor(m->name, o->name);
      if (!dataset.empty()) {
        model = Mapping(m->name, {});
        break;
      }
    }
    ASSERT_FALSE(dataset.empty()) << "no model and data set run objective " << o->name;
    sweeps.push_back(Sweep("objective_" + o->name, dataset, model, "{name: adam}",
                           absl::StrCat("objective: ", Mapping(o->name, {}), "\n")));
  }
  RunAll(sweeps);
}

}  // namespace
}  // namespace optbench::testing
