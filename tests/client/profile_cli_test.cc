// `optbench profile` as a user runs it: the real binary on two sweeps (workloads) that
// `optbench run` wrote, its numbers checked against what `optbench query --format json` says.
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "optbench/v1/types.pb.h"
#include "storage/sqlite_store.h"
#include "tests/integration/subprocess.h"

namespace optbench {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

using testing::Result;  // stdout and stderr together

// Two workloads (4 and 5 frequency levels), each with gd and adam at two step sizes and two seeds.
constexpr char kSweep[] = R"(name: NAME
dataset: {name: heavy_tail_uniform, m: M}
model: {name: linear}
trainer: {steps: 60, eval_every: 10}
seed: [0, 1]
optimizer:
  - {name: gd, lr: [0.5, 2]}
  - {name: adam, lr: [0.01, 0.05]}
)";

// One evaluation of one job as `optbench query --format json` prints it (a row per line).
struct Row {
  std::string job;
  std::string setting;  // The labels object without seed, as text.
  std::string optimizer;
  int64_t step = 0;
  int64_t group = 0;
  double value = NAN;
};

// The first step whose value is <= target, per job (-1 for never), from query rows of `group`.
std::map<std::string, int64_t> FirstReach(const std::vector<Row>& rows, int64_t group,
                                          double target) {
  std::map<std::string, int64_t> first;
  for (const Row& row : rows) {
    if (row.group != group) continue;
    first.emplace(row.job, -1);
    if (first[row.job] < 0 && row.value <= target) first[row.job] = row.step;
  }
  return first;
}

class ProfileCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/optbench_profile_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    sweeps_ = new std::vector<std::string>();
    for (const auto& [name, m] : {std::pair{"ht4", "4"}, std::pair{"ht5", "5"}}) {
      std::string text = kSweep;
      text.replace(text.find("NAME"), 4, name);
      text.replace(text.find("M}"), 1, m);
      const std::string file = absl::StrCat(*dir_, "/", name, ".yaml");
      std::ofstream(file) << text;
      Result run = Run({"run", file, "--db", *dir_ + "/o.db", "--workers", "2", "--no-progress"});
      ASSERT_EQ(run.exit_code, 0) << run.output;
      std::smatch match;
      ASSERT_TRUE(std::regex_search(run.output, match, std::regex("sweep (s-[0-9a-f]+)")))
          << run.output;
      sweeps_->push_back(match[1]);
    }
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    delete sweeps_;
    dir_ = nullptr;
    sweeps_ = nullptr;
  }
  void SetUp() override {
    if (sweeps_ == nullptr || sweeps_->size() != 2) {
      GTEST_SKIP() << "optbench run failed (see the first test's output)";
    }
  }

  static Result Run(std::vector<std::string> args) {
    static int calls = 0;
    args.insert(args.begin(), OPTBENCH_CLI_BIN);
    return testing::RunToCompletion(args, absl::StrCat(*dir_, "/cli.", calls++, ".log"),
                                    absl::Seconds(240));
  }

  static std::vector<std::string> Profile(std::vector<std::string> flags) {
    std::vector<std::string> args = {"profile", (*sweeps_)[0], (*sweeps_)[1], "--db",
                                     *dir_ + "/o.db"};
    args.insert(args.end(), flags.begin(), flags.end());
    return args;
  }

  // Every row `optbench query SWEEP --format json --group-by G` prints for both sweeps.
  static std::vector<Row> Query(const std::string& group_by) {
    std::vector<Row> rows;
    const std::regex row_re(
        "\\{\"job_id\":\"([^\"]+)\".*\"labels\":\\{([^}]*)\\},\"step\":([0-9]+),.*"
        "\"(?:group|overall)\":([0-9]+),.*\"value\":([^}]+)\\}");
    for (const std::string& sweep : *sweeps_) {
      Result r = Run(
          {"query", sweep, "--db", *dir_ + "/o.db", "--format", "json", "--group-by", group_by});
      EXPECT_EQ(r.exit_code, 0) << r.output;
      std::istringstream lines(r.output);
      for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (!std::regex_search(line, m, row_re)) continue;
        Row row;
        row.job = m[1];
        const std::string labels = m[2];
        row.setting = std::regex_replace(labels, std::regex(",?\"seed\":\"[0-9]+\""), "");
        std::smatch opt;
        EXPECT_TRUE(std::regex_search(labels, opt, std::regex("\"optimizer\":\"([^\"]+)\"")));
        row.optimizer = opt[1];
        EXPECT_TRUE(absl::SimpleAtoi(std::string(m[3]), &row.step));
        EXPECT_TRUE(absl::SimpleAtoi(std::string(m[4]), &row.group));
        if (m[5] != "null") {
          EXPECT_TRUE(absl::SimpleAtod(std::string(m[5]), &row.value));
        }
        rows.push_back(row);
      }
    }
    return rows;
  }

  static std::string* dir_;
  static std::vector<std::string>* sweeps_;
};
std::string* ProfileCliTest::dir_ = nullptr;
std::vector<std::string>* ProfileCliTest::sweeps_ = nullptr;

// The per-job steps in profile JSON: {"job_id":"X","step":N|null ...}.
std::map<std::string, int64_t> ProfileRunSteps(const std::string& json) {
  std::map<std::string, int64_t> steps;
  const std::regex run_re("\\{\"job_id\":\"([^\"]+)\",\"step\":([0-9]+|null)");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), run_re);
       it != std::sregex_iterator(); ++it) {
    int64_t step = -1;
    if ((*it)[2] != "null") {
      EXPECT_TRUE(absl::SimpleAtoi(std::string((*it)[2]), &step));
    }
    steps[(*it)[1]] = step;
  }
  return steps;
}

// Checks the profile JSON against the query rows: every listed run's step is its first reaching
// evaluation, and each entry's median steps is the smallest median over that optimizer's
// settings on that workload (a never-reaching seed counted as infinite).
void CheckAgainstQuery(const std::string& json, const std::vector<Row>& rows, int64_t group,
                       double target, int* solved_entries) {
  const std::map<std::string, int64_t> first = FirstReach(rows, group, target);
  const std::map<std::string, int64_t> listed = ProfileRunSteps(json);
  EXPECT_EQ(listed.size(), 8u) << json;  // 4 entries, each its best setting's 2 seeds
  for (const auto& [job, step] : listed) {
    ASSERT_EQ(first.count(job), 1u) << job;
    EXPECT_EQ(step, first.at(job)) << job;
  }
  // Settings per (sweep, optimizer): their jobs' steps.
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::vector<double>>> by;
  std::map<std::string, std::string> seen;
  for (const Row& row : rows) {
    if (row.group != group || !seen.emplace(row.job, row.setting).second) continue;
    const std::string sweep = row.job.substr(0, row.job.rfind('-'));
    const int64_t step = first.at(row.job);
    by[{sweep, row.optimizer}][row.setting].push_back(step < 0 ? kInf : static_cast<double>(step));
  }
  const std::regex entry_re(
      "\\{\"workload\":\"([^\"]+)\",\"workload_name\":\"[^\"]+\",\"optimizer\":\"([^\"]+)\".*"
      "\"median_steps\":([0-9.e+-]+|null)");
  int entries = 0;
  *solved_entries = 0;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), entry_re);
       it != std::sregex_iterator(); ++it) {
    ++entries;
    double best = kInf;
    for (auto [setting, steps] : by[{(*it)[1], (*it)[2]}]) {
      std::sort(steps.begin(), steps.end());
      const size_t n = steps.size();
      const double median = n % 2 == 1 ? steps[n / 2] : (steps[n / 2 - 1] + steps[n / 2]) / 2;
      best = std::min(best, median);
    }
    if ((*it)[3] == "null") {
      EXPECT_EQ(best, kInf) << (*it)[0];
    } else {
      ++*solved_entries;
      double median = 0;
      EXPECT_TRUE(absl::SimpleAtod(std::string((*it)[3]), &median));
      EXPECT_EQ(median, best) << (*it)[0];
    }
  }
  EXPECT_EQ(entries, 4) << json;  // 2 workloads x 2 optimizers
}

TEST_F(ProfileCliTest, JsonStepsAndMediansAreWhatQuerySays) {
  Result r = Run(Profile({"--target", "1", "--format", "json"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("{\"metric\":\"loss\",\"split\":\"train\",\"group\":null", 0), 0u)
      << r.output.substr(0, 200);
  int solved = 0;
  CheckAgainstQuery(r.output, Query("none"), 1, 1.0, &solved);
  EXPECT_GE(solved, 2) << r.output;
  // The best optimizer of each solved workload has ratio 1.
  EXPECT_GE(std::count(r.output.begin(), r.output.end(), '\n'), 8);
  EXPECT_NE(r.output.find("\"ratio\":1,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"workload_name\":\"ht4\""), std::string::npos);
  EXPECT_NE(r.output.find("\"rho\":{\"1\":"), std::string::npos);
}

TEST_F(ProfileCliTest, RarestGroupIsWhatQueryByFrequencySays) {
  Result rarest =
      Run(Profile({"--target", "0.5", "--group", "rarest", "--groups", "4", "--format", "json"}));
  ASSERT_EQ(rarest.exit_code, 0) << rarest.output;
  EXPECT_NE(rarest.output.find("\"group\":4,\"groups\":4"), std::string::npos);
  int solved = 0;
  CheckAgainstQuery(rarest.output, Query("frequency:4"), 4, 0.5, &solved);
  EXPECT_GE(solved, 1) << rarest.output;
  Result four =
      Run(Profile({"--target", "0.5", "--group", "4", "--groups", "4", "--format", "json"}));
  ASSERT_EQ(four.exit_code, 0) << four.output;
  EXPECT_EQ(four.output, rarest.output);
  // The most frequent group is another question with other answers.
  Result frequent =
      Run(Profile({"--target", "0.5", "--group", "1", "--groups", "4", "--format", "json"}));
  ASSERT_EQ(frequent.exit_code, 0) << frequent.output;
  CheckAgainstQuery(frequent.output, Query("frequency:4"), 1, 0.5, &solved);
}

TEST_F(ProfileCliTest, TableCsvAndFigure) {
  const std::string svg = *dir_ + "/profile.svg";
  Result table = Run(Profile({"--target", "1", "--out", svg, "--tau-max", "8"}));
  ASSERT_EQ(table.exit_code, 0) << table.output;
  for (const std::string& want :
       {std::string("time to target: train loss (overall) <= 1, time in steps"),
        absl::StrCat((*sweeps_)[0], " (ht4)"), absl::StrCat((*sweeps_)[1], " (ht5)"),
        std::string("median steps"), std::string("performance profile"),
        std::string("optimizer  tau=1  tau=1.5  tau=2  tau=4"),
        absl::StrCat("wrote ", svg, " (svg): 2 optimizer(s)")}) {
    EXPECT_NE(table.output.find(want), std::string::npos) << want << "\n" << table.output;
  }
  std::ifstream in(svg);
  std::stringstream figure;
  figure << in.rdbuf();
  EXPECT_EQ(figure.str().rfind("<svg ", 0), 0u);
  EXPECT_NE(figure.str().find("<polyline data-optimizer=\"0\""), std::string::npos);
  EXPECT_NE(figure.str().find("<polyline data-optimizer=\"1\""), std::string::npos);
  EXPECT_NE(figure.str().find(">8</text>"), std::string::npos);  // the tau axis ends at 8
  EXPECT_NE(figure.str().find(">adam</text>"), std::string::npos);

  // The same figure as PNG, by the name.
  const std::string png = *dir_ + "/profile.PNG";
  Result as_png = Run(Profile({"--target", "1", "--out", png}));
  ASSERT_EQ(as_png.exit_code, 0) << as_png.output;
  EXPECT_NE(as_png.output.find(absl::StrCat("wrote ", png, " (png): 2 optimizer(s)")),
            std::string::npos)
      << as_png.output;
  std::ifstream png_in(png, std::ios::binary);
  std::string signature(8, '\0');
  png_in.read(signature.data(), 8);
  EXPECT_EQ(signature, "\x89PNG\r\n\x1a\n");

  // Time to target as bars: one per optimizer and workload that reached, with its median steps
  // as the JSON says.
  const std::string bars = *dir_ + "/bars.svg";
  Result with_bars = Run(Profile({"--target", "1", "--bars", bars}));
  ASSERT_EQ(with_bars.exit_code, 0) << with_bars.output;
  Result json = Run(Profile({"--target", "1", "--format", "json"}));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  std::ifstream bars_in(bars);
  std::stringstream bars_svg;
  bars_svg << bars_in.rdbuf();
  const std::regex median("\"median_steps\":([0-9]+)");
  const std::regex bar(
      "<rect data-workload=\"[0-9]+\" data-optimizer=\"[0-9]+\" data-value=\"([0-9]+)\"");
  std::vector<std::string> want, drawn;
  for (auto it = std::sregex_iterator(json.output.begin(), json.output.end(), median);
       it != std::sregex_iterator(); ++it) {
    want.push_back((*it)[1]);
  }
  const std::string svg_text = bars_svg.str();
  for (auto it = std::sregex_iterator(svg_text.begin(), svg_text.end(), bar);
       it != std::sregex_iterator(); ++it) {
    drawn.push_back((*it)[1]);
  }
  EXPECT_FALSE(want.empty()) << json.output;
  EXPECT_EQ(drawn, want) << svg_text;

  Result csv = Run(Profile({"--target", "1", "--format", "csv", "--time", "seconds"}));
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(csv.output.rfind("workload,optimizer,setting,settings,reached,seeds,median_steps,", 0),
            0u)
      << csv.output;
  EXPECT_EQ(std::count(csv.output.begin(), csv.output.end(), '\n'), 5) << csv.output;

  // Accuracy rises to its target by default.
  Result accuracy = Run(Profile({"--target", "0.5", "--metric", "accuracy"}));
  ASSERT_EQ(accuracy.exit_code, 0) << accuracy.output;
  EXPECT_NE(accuracy.output.find("train accuracy (overall) >= 0.5"), std::string::npos)
      << accuracy.output;
}

TEST_F(ProfileCliTest, BadValuesAreErrorsNamingTheValue) {
  struct Case {
    std::vector<std::string> flags;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, 2, "--target is required"},
      {{"--target", "low"}, 2, "--target: 'low' is not a finite number"},
      {{"--target", "nan"}, 2, "--target: 'nan' is not a finite number"},
      {{"--target", "inf"}, 2, "--target: 'inf' is not a finite number"},
      {{"--target", "1", "--goal", "up"}, 2, "--goal: 'up' is not min or max"},
      {{"--target", "1", "--time", "hours"}, 2, "--time: 'hours' is not steps or seconds"},
      {{"--target", "1", "--group", "11"}, 2, "--group: '11' is not a group in 1..10"},
      {{"--target", "1", "--group", "0"}, 2, "--group: '0' is not a group in 1..10"},
      {{"--target", "1", "--groups", "4", "--group", "5"},
       2,
       "--group: '5' is not a group in 1..4"},
      {{"--target", "1", "--groups", "0"}, 2, "--groups: '0'"},
      {{"--target", "1", "--format", "xml"}, 2, "--format: 'xml'"},
      {{"--target", "1", "--tau-max", "1"}, 2, "--tau-max: '1' is not a number > 1"},
      {{"--target", "1", "--split", "validation"}, 2, "--split: 'validation'"},
      {{"--target", "1", "--steps", "0:10"}, 2, "unknown flag --steps"},
      {{"--target", "1", "--metric", "bogus"}, 1, "unknown metric 'bogus'"},
      {{"--target", "1", "--metric", "grad_norm", "--split", "test"}, 1, "train split only"},
      {{"--target", "1", "--metric", "grad_norm", "--group", "2"},
       1,
       "group: grad_norm is a scalar"},
      {{"--target", "1", "--out", *dir_ + "/no/such/dir/p.svg"}, 1, "no/such/dir/p.svg"},
      {{"--target", "1", "--out", *dir_ + "/p.gif"}, 2, "p.gif' ends in neither .svg nor .png"},
      {{"--target", "1", "--bars", *dir_ + "/b.txt"}, 2, "--bars: '"},
  };
  for (const Case& c : cases) {
    Result r = Run(Profile(c.flags));
    std::string flags;
    for (const std::string& f : c.flags) absl::StrAppend(&flags, f, " ");
    EXPECT_EQ(r.exit_code, c.exit_code) << flags << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.message << ": " << r.output;
  }
  Result missing = Run({"profile", "s-00000000", "--db", *dir_ + "/o.db", "--target", "1"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("s-00000000"), std::string::npos) << missing.output;
}

TEST_F(ProfileCliTest, NoFinishedJobIsAnError) {
  // A sweep whose jobs never ran: queued, as submitted.
  const std::string db = *dir_ + "/queued.db";
  std::string sweep_id;
  {
    auto store = storage::SqliteStore::Open(db, storage::SqliteStoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    v1::JobSpec spec;
    spec.mutable_optimizer()->set_name("gd");
    std::vector<storage::NewJob> jobs(2);
    for (size_t i = 0; i < jobs.size(); ++i) {
      jobs[i].spec = spec.SerializeAsString();
      jobs[i].summary_json = absl::StrCat("{\"optimizer\":\"gd\",\"seed\":\"", i, "\"}");
      jobs[i].total_steps = 10;
    }
    auto sweep = (*store)->CreateSweep("queued", "", jobs, absl::Now());
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    sweep_id = sweep->id;
  }
  Result r = Run({"profile", sweep_id, "--db", db, "--target", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no finished job to profile (succeeded or diverged); the jobs: 2 queued"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace optbench
