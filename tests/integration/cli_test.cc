// The optbench command line as a user runs it: a real process, its exit code and its output.
#include <stdio.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "worker/engine/gemm_backend.h"

namespace optbench {
namespace {

using testing::Result;
using testing::RunCli;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/optbench_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

constexpr char kTiny[] = R"(name: tiny
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer:
  - {name: gd, lr: 0.5}
  - {name: adam, lr: 0.01}
)";

TEST_F(CliTest, RunThenQueryTheDatabaseAsCsv) {
  const std::string sweep = Write("tiny.yaml", kTiny);
  const std::string db = dir_ + "/o.db";
  Result run = RunCli(absl::StrCat("run ", sweep, " --db ", db, " --workers 2"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // The result table: one block per shown step, a row per optimizer, 10 group columns.
  EXPECT_NE(run.output.find("step 20 - train loss by group"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("\n  gd "), std::string::npos) << run.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(run.output, m, std::regex("sweep (s-[0-9a-f]+)"))) << run.output;
  const std::string id = m[1];

  Result csv = RunCli(absl::StrCat("query ", id, " --db ", db, " --format csv"));
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  std::vector<std::string> lines = absl::StrSplit(csv.output, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0],
            "job_id,sweep_id,state,optimizer,lr,seed,step,split,metric,group,group_classes,"
            "group_train_examples,value");
  // 2 jobs x 3 evaluations (0, 10, 20) x 10 groups.
  EXPECT_EQ(lines.size(), 1u + 2 * 3 * 10);
  // Group 1 is the most frequent, as in the table and the plots.
  EXPECT_NE(csv.output.find(absl::StrCat(id, "-0,", id, ",succeeded,gd,0.5,0,0,train,loss,1,")),
            std::string::npos)
      << csv.output.substr(0, 600);

  // Only step 0 (an explicit upper bound of 0 is a bound, not "no limit").
  Result first = RunCli(absl::StrCat("query ", id, " --db ", db, " --format csv --steps 0:0"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  std::vector<std::string> first_lines = absl::StrSplit(first.output, '\n', absl::SkipEmpty());
  EXPECT_EQ(first_lines.size(), 1u + 2 * 10);
  EXPECT_EQ(RunCli(absl::StrCat("query ", id, " --db ", db, " --steps 5:3")).exit_code, 2);
  // Several ids side by side, in the order given; a job named twice (here also through its
  // sweep) appears once.
  Result both = RunCli(
      absl::StrCat("query ", id, "-1 ", id, " ", id, "-1 --db ", db, " --format csv --steps 0:0"));
  ASSERT_EQ(both.exit_code, 0) << both.output;
  std::vector<std::string> both_lines = absl::StrSplit(both.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(both_lines.size(), 1u + 2 * 10) << both.output;
  EXPECT_TRUE(absl::StartsWith(both_lines[1], absl::StrCat(id, "-1,"))) << both.output;
  EXPECT_TRUE(absl::StartsWith(both_lines[11], absl::StrCat(id, "-0,"))) << both.output;
  Result plot_both =
      RunCli(absl::StrCat("plot ", id, "-0 ", id, "-1 --db ", db, " --out ", dir_, "/both.svg"));
  EXPECT_EQ(plot_both.exit_code, 0) << plot_both.output;
  EXPECT_EQ(RunCli(absl::StrCat("query ", id, " s-00000000 --db ", db)).exit_code, 1);
  // A range without evaluations, or a metric or split the jobs lack: errors that say what exists.
  Result empty = RunCli(absl::StrCat("query ", id, " --db ", db, " --steps 100:200"));
  EXPECT_EQ(empty.exit_code, 1) << empty.output;
  EXPECT_NE(empty.output.find("--steps 100:200: no evaluation in that range; the jobs have "
                              "evaluations at steps 0..20"),
            std::string::npos)
      << empty.output;
  Result unknown = RunCli(absl::StrCat("query ", id, "-0 --db ", db, " --metric losss"));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown metric 'losss'; the job declares "), std::string::npos)
      << unknown.output;
  EXPECT_NE(unknown.output.find("; splits: "), std::string::npos) << unknown.output;
  // Read verbs read the file too, through the coordinator's own service code.
  for (const std::string& verb : std::vector<std::string>{
           "status", "sweeps", "list " + id, "watch " + id, "watch " + id + " --once"}) {
    Result r = RunCli(absl::StrCat(verb, " --db ", db));
    EXPECT_EQ(r.exit_code, 0) << verb << "\n" << r.output;
    EXPECT_NE(r.output.find(id), std::string::npos) << verb << "\n" << r.output;
  }
  Result once = RunCli(absl::StrCat("watch ", id, " --once --db ", db));
  EXPECT_NE(once.output.find("adam lr=0.01  succeeded  20/20"), std::string::npos) << once.output;
  EXPECT_EQ(once.output.find("seed="), std::string::npos) << once.output;  // Same for every job.
  Result missing = RunCli(absl::StrCat("status --db ", dir_, "/missing.db"));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("missing.db"), std::string::npos) << missing.output;

  Result per_class = RunCli(
      absl::StrCat("query ", id, "-1 --db ", db, " --group-by class --steps 20:20 --format json"));
  ASSERT_EQ(per_class.exit_code, 0) << per_class.output;
  // m = 4: 15 classes, one evaluation selected.
  EXPECT_EQ(std::count(per_class.output.begin(), per_class.output.end(), '{') -
                std::count(per_class.output.begin(), per_class.output.end(), '}'),
            0);
  EXPECT_EQ(std::count(per_class.output.begin(), per_class.output.end(), '\n'), 2 + 15);
}

// Rows of a CSV without quoted fields, as maps from the header's names.
std::vector<std::map<std::string, std::string>> CsvRows(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  std::vector<std::map<std::string, std::string>> rows;
  if (lines.empty()) return rows;
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    std::map<std::string, std::string>& row = rows.emplace_back();
    for (size_t c = 0; c < header.size() && c < fields.size(); ++c) row[header[c]] = fields[c];
  }
  return rows;
}

// Seeds that change the result (random init, mini-batches): the aggregate over seeds, recomputed
// here from the per-job CSV of the same database.
TEST_F(CliTest, QueryAggregatesOverSeeds) {
  const std::string sweep = Write("seeds.yaml", R"(name: seeds
dataset: {name: heavy_tail_uniform, m: 3}
model: {name: linear, init: uniform}
trainer: {steps: 20, eval_every: 10, batch_size: 8}
optimizer: {name: gd, lr: [0.1, 0.5]}
seed: [0, 1, 2]
)");
  const std::string db = dir_ + "/seeds.db";
  Result run = RunCli(absl::StrCat("run ", sweep, " --db ", db, " --workers 2"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(run.output, m, std::regex("sweep (s-[0-9a-f]+)"))) << run.output;
  const std::string id = m[1];

  Result plain = RunCli(absl::StrCat("query ", id, " --db ", db, " --format csv --group-by none"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  // (lr, step) -> the seeds' values.
  std::map<std::pair<std::string, std::string>, std::vector<double>> values;
  std::set<std::string> seeds;
  for (const auto& row : CsvRows(plain.output)) {
    values[{row.at("lr"), row.at("step")}].push_back(std::stod(row.at("value")));
    seeds.insert(row.at("seed"));
  }
  ASSERT_EQ(seeds.size(), 3u);
  ASSERT_EQ(values.size(), 2u * 3u);  // Two settings x steps 0, 10, 20.

  Result aggregated = RunCli(
      absl::StrCat("query ", id, " --db ", db, " --format csv --group-by none --aggregate seed"));
  ASSERT_EQ(aggregated.exit_code, 0) << aggregated.output;
  EXPECT_EQ(aggregated.output.substr(0, aggregated.output.find('\n')),
            "optimizer,lr,step,split,metric,group,group_classes,group_train_examples,mean,std,n,"
            "ci_low,ci_high");
  const auto rows = CsvRows(aggregated.output);
  ASSERT_EQ(rows.size(), values.size()) << aggregated.output;
  bool some_spread = false;
  for (const auto& row : rows) {
    const std::vector<double>& xs = values.at({row.at("lr"), row.at("step")});
    SCOPED_TRACE(absl::StrCat("lr ", row.at("lr"), " step ", row.at("step")));
    ASSERT_EQ(xs.size(), 3u);
    const double mean = (xs[0] + xs[1] + xs[2]) / 3;
    double ss = 0;
    for (double x : xs) ss += (x - mean) * (x - mean);
    const double sd = std::sqrt(ss / 2);
    const double half = 4.302652729911275 * sd / std::sqrt(3.0);  // t(0.975, 2), R's qt.
    some_spread = some_spread || sd > 0;
    const double tol = 1e-9 * std::max(1.0, std::fabs(mean));
    EXPECT_EQ(row.at("n"), "3");
    EXPECT_NEAR(std::stod(row.at("mean")), mean, tol);
    EXPECT_NEAR(std::stod(row.at("std")), sd, tol);
    EXPECT_NEAR(std::stod(row.at("ci_low")), mean - half, tol);
    EXPECT_NEAR(std::stod(row.at("ci_high")), mean + half, tol);
  }
  EXPECT_TRUE(some_spread) << "the seeds should change the result\n" << plain.output;

  Result table = RunCli(absl::StrCat("query ", id, " --db ", db, " --aggregate seed"));
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("step 20 - train loss, mean ± 95 % CI (n) over seeds by group"),
            std::string::npos)
      << table.output;
  EXPECT_NE(table.output.find("\n  lr=0.5 "), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(" (3)"), std::string::npos) << table.output;

  // The plot by job: a panel per setting, each group's mean with its interval as a band; by
  // group (the default): a panel per group, a line and a band per setting, named in the legend
  // by what differs.
  for (const char* layout : {"job", "group"}) {
    Result plot = RunCli(
        absl::StrCat("plot ", id, " --db ", db, " --aggregate seed --groups 3 --layout ", layout));
    ASSERT_EQ(plot.exit_code, 0) << plot.output;
    EXPECT_NE(plot.output.find(layout == std::string("job") ? ">gd lr=0.5<" : ">lr=0.5<"),
              std::string::npos)
        << layout << ": " << plot.output.substr(0, 2000);
    size_t bands = 0;
    for (size_t at = 0;
         (at = plot.output.find("<polygon data-band=\"1\"", at)) != std::string::npos; ++at) {
      ++bands;
    }
    EXPECT_EQ(bands, 2u * 3u) << layout;  // Settings x groups: every step has three seeds.
  }

  for (const char* verb : {"query", "plot"}) {
    Result bad = RunCli(absl::StrCat(verb, " ", id, " --db ", db, " --aggregate foo"));
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find("--aggregate: 'foo' is not accepted; accepted: seed"),
              std::string::npos)
        << bad.output;
  }
}

TEST_F(CliTest, DryRunListsTheExpandedJobs) {
  const std::string sweep = Write("grid.yaml", absl::StrCat(kTiny, "seed: [0, 1, 2]\n"));
  Result r = RunCli(absl::StrCat("submit ", sweep, " --dry-run"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("6 jobs in sweep 'tiny'"), std::string::npos) << r.output;
  // D1 m = 4: 64 x 80 features; the estimate is stated before anything runs.
  EXPECT_NE(r.output.find("estimated peak memory per job: up to "), std::string::npos) << r.output;
}

TEST_F(CliTest, DryRunWarnsOfASeedAxisThatCannotChangeTheResult) {
  struct Case {
    std::string extra;  // Appended to kTiny (model linear, init zeros by default, full batch).
    bool warns;
  };
  const Case cases[] = {
      {"seed: [0, 1, 2]\n", true},
      {"seed: 3\n", false},  // No axis.
      {"seed: [0, 1]\nmodel: {name: linear, init: uniform}\n", false},
      {"seed: [0, 1]\ntrainer: {steps: 20, eval_every: 10, batch_size: 8}\n", false},
  };
  for (const Case& c : cases) {
    // A later key replaces kTiny's (a duplicate key is refused), so rebuild the file.
    std::string text = kTiny;
    if (c.extra.find("model:") != std::string::npos) {
      text = std::regex_replace(text, std::regex("model: \\{name: linear\\}\n"), "");
    }
    if (c.extra.find("trainer:") != std::string::npos) {
      text = std::regex_replace(text, std::regex("trainer: \\{[^}]*\\}\n"), "");
    }
    const std::string sweep = Write("seeds.yaml", text + c.extra);
    Result r = RunCli(absl::StrCat("submit ", sweep, " --dry-run"));
    ASSERT_EQ(r.exit_code, 0) << c.extra << r.output;
    const bool warned = r.output.find(
                            "warning: grid axis seed (0, 1, 2) cannot change the result: "
                            "model linear with init: zeros, full batch") != std::string::npos;
    EXPECT_EQ(warned, c.warns) << c.extra << r.output;
    if (c.warns) {
      EXPECT_NE(r.output.find("4 job(s) will repeat another's result exactly"), std::string::npos)
          << r.output;
    }
  }
  // Submitting warns the same on stderr and still submits (here: no coordinator to take it).
  const std::string sweep = Write("seeds.yaml", absl::StrCat(kTiny, "seed: [0, 1, 2]\n"));
  Result r = RunCli(absl::StrCat("submit ", sweep, " --coordinator 127.0.0.1:1"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("warning: grid axis seed (0, 1, 2)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is a coordinator running there?"), std::string::npos) << r.output;
}

TEST_F(CliTest, BadSweepFileNamesFileLineAndField) {
  const std::string sweep = Write("bad.yaml", R"(dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
optimizer:
  - {name: adam, beta1: 1.5}
)");
  Result r = RunCli(absl::StrCat("submit ", sweep, " --dry-run"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad.yaml:4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("beta1"), std::string::npos) << r.output;
}

TEST_F(CliTest, ListOptimizersShowsHyperparameters) {
  Result r = RunCli("list optimizers");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* want : {"adam", "beta2", "0.999", "sign_descent", "normalized_gd", "momentum"}) {
    EXPECT_NE(r.output.find(want), std::string::npos) << want << "\n" << r.output;
  }
}

TEST_F(CliTest, ListTasksObjectivesAndMetricsShowTheCoordinatorsDeclarations) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"list tasks", {"train - ", "aux_optimizer", "default cross_entropy", "trainer:", "steps"}},
      {"list objectives", {"sequence_cross_entropy - ", "needs: token_ids, positions"}},
      {"list metrics",
       {"task train:", "head_grad_norm", "model attention2:", "diag.attn_21",
        "objective cross_entropy:", "[stored as loss_sum] (default)"}},
  };
  for (const auto& [command, wants] : cases) {
    Result r = RunCli(command);
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    for (const std::string& want : wants) {
      EXPECT_NE(r.output.find(want), std::string::npos) << command << ": " << want << "\n"
                                                        << r.output;
    }
  }
}

// --threads: the threads of each job's matrix products. Results must not depend on it (the GEMM
// backend splits products by output blocks only; worker/engine/gemm_backend.h).
TEST_F(CliTest, ThreadsChangeNoResult) {
  const std::string sweep = Write("d1.yaml", R"(name: d1
dataset: {name: heavy_tail_uniform, m: 6}
model: {name: linear}
trainer: {steps: 6, eval_every: 3}
optimizer: {name: adam, lr: 0.01}
)");
  Result bad = RunCli(absl::StrCat("run ", sweep, " --db ", dir_, "/bad.db --threads 0"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--threads: '0' is not a number in 1..1024"), std::string::npos)
      << bad.output;
  if (engine::MaxGemmThreads() < 2) {
    Result r = RunCli(absl::StrCat("run ", sweep, " --db ", dir_, "/two.db --threads 2"));
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("2 is not in 1..1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("-DOPTBENCH_BLAS=openblas"), std::string::npos) << r.output;
    return;
  }
  // With OPENBLAS_CORETYPE=Haswell two threads change the last bits (gemm_backend.h): the run
  // says so, and the digits may differ.
  const bool exact = engine::GemmThreadsKeepResults();
  std::vector<std::string> tables;
  for (int threads : {1, 2}) {
    const std::string db = absl::StrCat(dir_, "/t", threads, ".db");
    Result run = RunCli(absl::StrCat("run ", sweep, " --db ", db, " --threads ", threads));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(run.output.find("changes results in their last bits") != std::string::npos,
              threads == 2 && !exact)
        << run.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(run.output, m, std::regex("sweep (s-[0-9a-f]+)"))) << run.output;
    Result csv =
        RunCli(absl::StrCat("query ", m[1].str(), " --db ", db, " --format csv --group-by class"));
    ASSERT_EQ(csv.exit_code, 0) << csv.output;
    // Without the job and sweep ids (first two columns), which differ between databases.
    std::string values;
    for (absl::string_view line : absl::StrSplit(csv.output, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(',', 2));
      ASSERT_EQ(fields.size(), 3u) << line;
      absl::StrAppend(&values, fields[2], "\n");
    }
    tables.push_back(values);
  }
  // 3 evaluations x 63 classes, and the same digits on 1 and 2 threads.
  EXPECT_EQ(std::count(tables[0].begin(), tables[0].end(), '\n'), 1 + 3 * 63);
  EXPECT_EQ(std::count(tables[1].begin(), tables[1].end(), '\n'), 1 + 3 * 63);
  if (exact) {
    EXPECT_EQ(tables[0], tables[1]);
  }
}

TEST_F(CliTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(RunCli("frobnicate").exit_code, 2);
  Result r = RunCli("query x --group-by frequency:0 --db /nonexistent");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("frequency:0"), std::string::npos) << r.output;
  EXPECT_EQ(RunCli("query x --colour red").exit_code, 2);
}

TEST_F(CliTest, EveryVerbHasHelpAndTheCliAVersion) {
  for (const char* verb : {"run", "submit", "status", "health", "list", "sweeps", "watch", "cancel",
                           "tag", "delete", "query", "export", "plot", "profile"}) {
    Result r = RunCli(absl::StrCat(verb, " --help"));
    EXPECT_EQ(r.exit_code, 0) << verb << "\n" << r.output;
    EXPECT_NE(r.output.find(absl::StrCat("usage: optbench ", verb)), std::string::npos)
        << verb << "\n"
        << r.output;
  }
  Result version = RunCli("--version");
  EXPECT_EQ(version.exit_code, 0) << version.output;
  EXPECT_TRUE(std::regex_match(version.output, std::regex("optbench [0-9]+\\.[0-9]+\\.[0-9]+\n")))
      << version.output;
}

TEST_F(CliTest, StatusWithoutCoordinatorSaysSo) {
  Result r = RunCli("status --coordinator 127.0.0.1:1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is a coordinator running there?"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace optbench
