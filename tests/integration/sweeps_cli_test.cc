// Finding and managing sweeps from the command line (issue 13): tags and notes, `optbench sweeps`
// with filters and pages, `optbench tag`, `optbench delete`, against a real coordinator.
#include <stdio.h>

#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"

namespace optbench::testing {
namespace {

constexpr char kTagged[] = R"(name: tagged
tags: [paper1, lr-grid]
note: from the file
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: {name: gd, lr: [0.5, 0.25]}
)";

// The first sweep id in `output`.
std::string SweepIdIn(const std::string& output) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("s-[0-9a-f]{8}"))) return "";
  return m[0];
}

// The first line of `command`'s standard output (a shell command).
std::string FirstLineOf(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  if (fgets(buf, sizeof(buf), pipe) != nullptr) out = buf;
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class SweepsCliTest : public ServiceFixture {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // `args` run against this test's coordinator.
  Result Cli(const std::string& args) {
    return RunCli(absl::StrCat(args, " --coordinator ", address_));
  }
  std::string Db() const { return dir_ + "/optbench.db"; }
};

TEST_F(SweepsCliTest, TagsNotesFiltersAndPages) {
  StartCoordinator();
  const std::string file = Write("tagged.yaml", kTagged);
  Result first = Cli(absl::StrCat("submit ", file, " --tag extra --tag paper1"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string a = SweepIdIn(first.output);
  Result second = Cli(absl::StrCat("submit ", file, " --name Other --note 'the flag wins'"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const std::string b = SweepIdIn(second.output);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());

  struct Case {
    std::string args;
    int exit_code;
    std::vector<std::string> present;
    std::vector<std::string> absent;
  };
  const std::vector<Case> cases = {
      // Newest first, with tags and notes.
      {"sweeps", 0, {b, a, "extra,lr-grid,paper1", "from the file", "the flag wins"}, {}},
      {"sweeps --tag extra", 0, {a}, {b}},
      {"sweeps --tag paper1 --tag lr-grid", 0, {a, b}, {}},
      {"sweeps --name OTH", 0, {b}, {a}},
      {"sweeps --state queued", 0, {a, b}, {}},
      {"sweeps --state active", 0, {a, b}, {}},
      {"sweeps --state done", 0, {"no sweeps match"}, {a, b}},
      {"sweeps --limit 1",
       0,
       {b, "2 sweeps match; next page: optbench sweeps", "--page-token"},
       {a}},
      {"list " + a, 0, {"tags: extra, lr-grid, paper1", "note: from the file", a + "-1"}, {}},
      {"status", 0, {"recent sweeps:", "extra,lr-grid,paper1"}, {"more: optbench sweeps"}},
      // A job that declares the metric but has not reported it, apart from one it lacks.
      {"query " + a, 0, {"(no metrics yet: 2 job(s), 2 queued)"}, {}},
      {"query " + a + " --metric nope",
       1,
       {"unknown metric 'nope'; its jobs declare ", "accuracy", "(train split only: ",
        "; splits: train, and test where the data set has one (not run yet)"},
       {}},
      // Errors name the bad value.
      {"sweeps --limit 0", 2, {"--limit: '0' is not a number in 1..1000"}, {}},
      {"sweeps --state weird", 2, {"'weird' is not one of", "active or done"}, {}},
      {"sweeps --tag 'has space'", 1, {"tag 'has space' is not 1..64 characters"}, {}},
      {"sweeps --page-token garbage", 1, {"invalid page token 'garbage'"}, {}},
      {"tag " + a, 2, {"usage: optbench tag SWEEP"}, {}},
      {"tag " + a + " --add 'no good'", 1, {"add_tags[0]: tag 'no good'"}, {}},
      {"tag s-00000000 --add x", 1, {"s-00000000"}, {}},
      {"submit " + file + " --tag a,b --dry-run", 1, {"tags[0]: tag 'a,b'"}, {}},
      {"delete " + a, 2, {"without --yes", "its 2 jobs"}, {}},
      {"delete s-00000000 --yes", 1, {"sweep s-00000000 not found"}, {}},
      {"delete " + a + " --db x.db", 2, {"unknown flag --db for 'delete'"}, {}},
  };
  for (const Case& c : cases) {
    Result r = Cli(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << "\n" << r.output;
    for (const std::string& want : c.present) {
      EXPECT_NE(r.output.find(want), std::string::npos) << c.args << ": no '" << want << "' in\n"
                                                        << r.output;
    }
    for (const std::string& unwanted : c.absent) {
      EXPECT_EQ(r.output.find(unwanted), std::string::npos)
          << c.args << ": '" << unwanted << "' in\n"
          << r.output;
    }
  }

  // The next page, by the command the first page printed.
  Result page = Cli("sweeps --limit 1");
  std::smatch token;
  ASSERT_TRUE(std::regex_search(page.output, token, std::regex("--page-token ([A-Za-z0-9_=-]+)")))
      << page.output;
  Result next = Cli(absl::StrCat("sweeps --limit 1 --page-token ", token[1].str()));
  ASSERT_EQ(next.exit_code, 0) << next.output;
  EXPECT_NE(next.output.find(a), std::string::npos) << next.output;
  EXPECT_EQ(next.output.find(b), std::string::npos) << next.output;
  EXPECT_EQ(next.output.find("next page"), std::string::npos) << next.output;

  // Tags and the note change later; the filters follow.
  Result tagged = Cli(absl::StrCat("tag ", a, " --add final --remove paper1 --note ''"));
  ASSERT_EQ(tagged.exit_code, 0) << tagged.output;
  EXPECT_NE(tagged.output.find("tags: extra, final, lr-grid\n"), std::string::npos)
      << tagged.output;
  EXPECT_EQ(tagged.output.find("note:"), std::string::npos) << tagged.output;
  Result final_only = Cli("sweeps --tag final");
  EXPECT_NE(final_only.output.find(a), std::string::npos) << final_only.output;
  EXPECT_EQ(final_only.output.find(b), std::string::npos) << final_only.output;
  // The same answers from the file, read-only, while the coordinator runs.
  Result from_file = RunCli(absl::StrCat("sweeps --db ", Db(), " --tag final"));
  ASSERT_EQ(from_file.exit_code, 0) << from_file.output;
  EXPECT_NE(from_file.output.find(a), std::string::npos) << from_file.output;
  EXPECT_EQ(from_file.output.find(b), std::string::npos) << from_file.output;
}

TEST_F(SweepsCliTest, StatusPointsToSweepsBeyondTheRecentTen) {
  StartCoordinator();
  const std::string file = Write("tagged.yaml", kTagged);
  for (int i = 0; i < 12; ++i) ASSERT_EQ(Cli(absl::StrCat("submit ", file)).exit_code, 0);
  Result status = Cli("status");
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("2 more: optbench sweeps\n"), std::string::npos) << status.output;
}

TEST_F(SweepsCliTest, DeleteRemovesOneSweepAndLeavesTheOtherWhole) {
  StartCoordinator();
  StartWorker("w1");
  const std::string file = Write("tagged.yaml", kTagged);
  const std::string keep = SweepIdIn(Cli(absl::StrCat("submit ", file)).output);
  const std::string drop = SweepIdIn(Cli(absl::StrCat("submit ", file)).output);
  ASSERT_FALSE(keep.empty());
  ASSERT_FALSE(drop.empty());
  WaitForSweep(keep, absl::Minutes(2));
  WaitForSweep(drop, absl::Minutes(2));
  const std::string query = absl::StrCat("query ", keep, " --db ", Db(), " --format csv");
  Result before = RunCli(query);
  ASSERT_EQ(before.exit_code, 0) << before.output;
  ASSERT_EQ(RunCli(absl::StrCat("query ", drop, " --db ", Db())).exit_code, 0);

  Result deleted = Cli(absl::StrCat("delete ", drop, " --yes"));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_NE(deleted.output.find(absl::StrCat("deleted sweep ", drop, " 'tagged': 2 jobs, ")),
            std::string::npos)
      << deleted.output;
  EXPECT_EQ(RunCli(query).output, before.output);  // The other sweep is untouched.
  Result gone = RunCli(absl::StrCat("query ", drop, " --db ", Db()));
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
  EXPECT_NE(gone.output.find(absl::StrCat("no sweep or job with id '", drop, "'")),
            std::string::npos)
      << gone.output;
  Result listed = Cli("sweeps");
  EXPECT_NE(listed.output.find(keep), std::string::npos) << listed.output;
  EXPECT_EQ(listed.output.find(drop), std::string::npos) << listed.output;
  EXPECT_EQ(FirstLineOf(absl::StrCat("sqlite3 -readonly ", Db(), " 'PRAGMA integrity_check'")),
            "ok");
  EXPECT_EQ(FirstLineOf(absl::StrCat("sqlite3 -readonly ", Db(),
                                     " \"SELECT count(*) FROM metrics WHERE job_id LIKE '", drop,
                                     "%'\"")),
            "0");
}

TEST_F(SweepsCliTest, DeleteRefusesRunningJobsUnlessForced) {
  StartCoordinator();
  StartWorker("w1");
  const std::string file = Write("long.yaml", R"(name: long
dataset: {name: heavy_tail_uniform, m: 5}
model: {name: linear}
trainer: {steps: 1000000, eval_every: 1000}
optimizer: {name: gd, lr: 0.1}
)");
  const std::string id = SweepIdIn(Cli(absl::StrCat("submit ", file)).output);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(WaitForJob(
                id + "-0", [](const v1::Job& j) { return j.state() == v1::JOB_STATE_RUNNING; },
                absl::Minutes(1))
                .state(),
            v1::JOB_STATE_RUNNING);
  Result refused = Cli(absl::StrCat("delete ", id, " --yes"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find(absl::StrCat("1 running job(s) (", id, "-0)")), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("--force"), std::string::npos) << refused.output;
  EXPECT_EQ(GetJob(id + "-0").state(), v1::JOB_STATE_RUNNING);  // Nothing happened to it.

  Result forced = Cli(absl::StrCat("delete ", id, " --yes --force"));
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_NE(forced.output.find(absl::StrCat("deleted sweep ", id, " 'long': 1 jobs")),
            std::string::npos)
      << forced.output;
  EXPECT_NE(Cli("sweeps").output.find("no sweeps match"), std::string::npos);
  // The worker let the cancelled job go and takes the next one.
  const std::string next =
      SweepIdIn(Cli(absl::StrCat("submit ", Write("tagged.yaml", kTagged))).output);
  EXPECT_EQ(WaitForSweep(next, absl::Minutes(2)).at(0).state(), v1::JOB_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace optbench::testing
