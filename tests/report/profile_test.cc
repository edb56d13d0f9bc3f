#include "report/profile.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "report/plot.h"

namespace optbench::report {
namespace {

using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr double kInf = std::numeric_limits<double>::infinity();

// A job of `workload` run with `optimizer` at `setting` (its labels without seed): `curve` at
// steps 0, 10, 20, ... unless `steps` says otherwise; wall_seconds = step / 10 + 0.5.
ProfileRun MakeRun(const std::string& job, const std::string& workload,
                   const std::string& optimizer, std::map<std::string, std::string> setting,
                   const std::vector<double>& curve, std::vector<int64_t> steps = {}) {
  ProfileRun run;
  run.job_id = job;
  run.workload = workload;
  run.optimizer = optimizer;
  run.setting = std::move(setting);
  run.setting["optimizer"] = optimizer;
  for (size_t i = 0; i < curve.size(); ++i) {
    const int64_t step = steps.empty() ? static_cast<int64_t>(10 * i) : steps[i];
    run.curve.emplace_back(step, curve[i]);
    run.wall_seconds[step] = static_cast<double>(step) / 10 + 0.5;
  }
  return run;
}

// A run whose curve is 1.0 at every evaluation before `step` and 0.1 from it on (never when
// `step` is negative), evaluated every 10 steps up to 100.
ProfileRun Reaching(const std::string& job, const std::string& workload,
                    const std::string& optimizer, std::map<std::string, std::string> setting,
                    int64_t step) {
  std::vector<double> curve;
  for (int64_t s = 0; s <= 100; s += 10) curve.push_back(step >= 0 && s >= step ? 0.1 : 1.0);
  return MakeRun(job, workload, optimizer, std::move(setting), curve);
}

ProfileOptions Target(double target, Goal goal = Goal::kMin,
                      TimeMeasure time = TimeMeasure::kSteps) {
  ProfileOptions options;
  options.target = target;
  options.goal = goal;
  options.time = time;
  return options;
}

const ProfileEntry& EntryOf(const ProfileResult& result, const std::string& workload,
                            const std::string& optimizer) {
  for (const ProfileEntry& e : result.entries) {
    if (e.workload == workload && e.optimizer == optimizer) return e;
  }
  ADD_FAILURE() << "no entry " << workload << " " << optimizer;
  static const ProfileEntry* none = new ProfileEntry();
  return *none;
}

TEST(ProfileTest, FirstEvaluationAtOrBelowTheTargetNotInterpolated) {
  // Steps 0, 10, 20, 30, 40: crosses 0.5 between 10 and 20 (interpolation would say ~16), rises
  // above it again at 30, and is lowest at 40.
  const ProfileRun run = MakeRun("j1", "w", "gd", {}, {2.0, 0.8, 0.4, 0.6, 0.1});
  auto result = ComputeProfile({run}, Target(0.5));
  ASSERT_TRUE(result.ok()) << result.status();
  const ProfileEntry& e = EntryOf(*result, "w", "gd");
  ASSERT_TRUE(e.best.has_value());
  ASSERT_EQ(e.best->runs.size(), 1u);
  EXPECT_EQ(e.best->runs[0].step, 20);
  EXPECT_DOUBLE_EQ(e.best->runs[0].seconds, 2.5);  // wall_seconds at step 20
  EXPECT_DOUBLE_EQ(e.best->runs[0].final_value, 0.1);
  EXPECT_DOUBLE_EQ(e.time, 20);
  EXPECT_TRUE(e.solved);
  // A value equal to the target reaches it.
  auto equal = ComputeProfile({run}, Target(0.4));
  ASSERT_TRUE(equal.ok());
  EXPECT_EQ(equal->entries[0].best->runs[0].step, 20);
  // Below every value: never.
  auto never = ComputeProfile({run}, Target(0.05));
  ASSERT_TRUE(never.ok());
  EXPECT_FALSE(never->entries[0].best->runs[0].step.has_value());
  EXPECT_EQ(never->entries[0].best->runs[0].seconds, kInf);
  EXPECT_FALSE(never->entries[0].solved);
}

TEST(ProfileTest, GoalMaxReachesFromBelow) {
  const ProfileRun run = MakeRun("j1", "w", "adam", {}, {0.1, 0.6, 0.9, 0.7});
  auto max = ComputeProfile({run}, Target(0.8, Goal::kMax));
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->entries[0].best->runs[0].step, 20);
  // The same target as a minimum is met at once.
  auto min = ComputeProfile({run}, Target(0.8, Goal::kMin));
  ASSERT_TRUE(min.ok());
  EXPECT_EQ(min->entries[0].best->runs[0].step, 0);
}

TEST(ProfileTest, DefaultGoalIsWhatTheMetricDeclares) {
  v1::QueryMetricsResponse response;
  v1::Series* s = response.add_series();
  s->set_metric("accuracy");
  EXPECT_EQ(DefaultGoal(response), Goal::kMin);  // no declaration (a job stored before them)
  v1::MetricDeclaration* loss = s->mutable_job()->add_metrics();
  loss->set_query("loss");
  v1::MetricDeclaration* accuracy = s->mutable_job()->add_metrics();
  accuracy->set_query("accuracy");
  EXPECT_EQ(DefaultGoal(response), Goal::kMin);
  accuracy->set_higher_is_better(true);
  EXPECT_EQ(DefaultGoal(response), Goal::kMax);
  s->set_metric("loss");
  EXPECT_EQ(DefaultGoal(response), Goal::kMin);
}

TEST(ProfileTest, WallSecondsQueryAsksTheSameJobs) {
  v1::QueryMetricsRequest request;
  request.set_sweep_id("s-1");
  request.set_metric("accuracy");
  request.set_split(v1::SPLIT_TEST);
  request.set_group_by(v1::GROUP_BY_FREQUENCY);
  request.set_aggregate("seed");
  const v1::QueryMetricsRequest seconds = WallSecondsQuery(request);
  EXPECT_EQ(seconds.sweep_id(), "s-1");
  EXPECT_EQ(seconds.metric(), "wall_seconds");
  EXPECT_EQ(seconds.split(), v1::SPLIT_TRAIN);
  EXPECT_EQ(seconds.group_by(), v1::GROUP_BY_NONE);
  EXPECT_EQ(seconds.aggregate(), "");
}

TEST(ProfileTest, NeverReachingSeedCountsAsInfinityInTheMedian) {
  struct Case {
    std::vector<int64_t> steps;  // Per seed; -1 = never.
    double median;
    int reached;
  };
  const std::vector<Case> cases = {
      {{10, 20, -1}, 20, 2},      // sorted 10, 20, inf
      {{10, -1, -1}, kInf, 1},    // 2 of 3 never
      {{10, -1}, kInf, 1},        // even count: the mean of 10 and inf
      {{10, 20, 30, -1}, 25, 3},  // the mean of 20 and 30
      {{30}, 30, 1},
  };
  for (const Case& c : cases) {
    std::vector<ProfileRun> runs;
    for (size_t i = 0; i < c.steps.size(); ++i) {
      runs.push_back(Reaching(absl::StrCat("j", i), "w", "gd", {{"lr", "1"}}, c.steps[i]));
    }
    auto result = ComputeProfile(runs, Target(0.5));
    ASSERT_TRUE(result.ok()) << result.status();
    const ProfileEntry& e = EntryOf(*result, "w", "gd");
    ASSERT_TRUE(e.best.has_value());
    EXPECT_EQ(e.best->median_steps, c.median) << c.steps.size() << " seeds";
    EXPECT_EQ(e.best->reached, c.reached);
    EXPECT_EQ(e.best->runs.size(), c.steps.size());
    EXPECT_EQ(e.settings, 1);
    EXPECT_EQ(e.solved, std::isfinite(c.median));
    EXPECT_EQ(e.time, c.median);
  }
}

TEST(ProfileTest, BestSettingIsFewestStepsThenBetterFinalValueThenFirst) {
  // lr=1 reaches at 30; lr=2, lr=3 and lr=4 at 20, ending at 0.3, 0.1 and 0.1.
  std::vector<ProfileRun> runs = {
      MakeRun("a", "w", "gd", {{"lr", "1"}}, {1, 1, 1, 0.4, 0.05}),
      MakeRun("b", "w", "gd", {{"lr", "2"}}, {1, 1, 0.4, 0.3, 0.3}),
      MakeRun("c", "w", "gd", {{"lr", "3"}}, {1, 1, 0.4, 0.2, 0.1}),
      MakeRun("d", "w", "gd", {{"lr", "4"}}, {1, 1, 0.4, 0.2, 0.1}),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok()) << result.status();
  const ProfileEntry& e = EntryOf(*result, "w", "gd");
  EXPECT_EQ(e.settings, 4);
  ASSERT_TRUE(e.best.has_value());
  EXPECT_EQ(e.best->setting.at("lr"), "3");
  EXPECT_EQ(e.best->median_steps, 20);
  EXPECT_DOUBLE_EQ(e.best->median_final, 0.1);

  // As a maximum (accuracy-like), the tie goes to the higher final value.
  std::vector<ProfileRun> up = {
      MakeRun("a", "w", "adam", {{"lr", "1"}}, {0, 0.9, 0.91}),
      MakeRun("b", "w", "adam", {{"lr", "2"}}, {0, 0.9, 0.95}),
      MakeRun("c", "w", "adam", {{"lr", "3"}}, {0, 0.5, 0.99}),
  };
  auto max = ComputeProfile(up, Target(0.8, Goal::kMax));
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->entries[0].best->setting.at("lr"), "2");
}

TEST(ProfileTest, WhenNoSettingReachesTheBestFinalValueIsShownAndTheWorkloadIsFailed) {
  std::vector<ProfileRun> runs = {
      MakeRun("a", "w", "gd", {{"lr", "1"}}, {1, 0.9}),
      MakeRun("b", "w", "gd", {{"lr", "2"}}, {1, 0.7}),
      MakeRun("c", "w", "gd", {{"lr", "3"}}, {1, NAN}),  // diverged: the worst final value
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok());
  const ProfileEntry& e = EntryOf(*result, "w", "gd");
  EXPECT_FALSE(e.solved);
  EXPECT_EQ(e.time, kInf);
  EXPECT_EQ(e.ratio, kInf);
  ASSERT_TRUE(e.best.has_value());
  EXPECT_EQ(e.best->setting.at("lr"), "2");
  EXPECT_EQ(e.best->reached, 0);
  ASSERT_EQ(result->curves.size(), 1u);
  EXPECT_TRUE(result->curves[0].breakpoints.empty());
  EXPECT_EQ(Rho(result->curves[0], 100), 0);
}

TEST(ProfileTest, RatiosAndProfileOnThreeWorkloadsAndTwoOptimizers) {
  // Steps to target (one seed each):
  //          w1   w2   w3
  //   gd     40   30   never
  //   adam   20   40   10
  // best:    20   30   10
  // r_gd   = 2,   1,   inf   -> rho_gd:   1/3 on [1, 2), 2/3 from 2 on (never 1)
  // r_adam = 1,   4/3, 1     -> rho_adam: 2/3 on [1, 4/3), 1 from 4/3 on
  std::vector<ProfileRun> runs = {
      Reaching("g1", "w1", "gd", {}, 40), Reaching("a1", "w1", "adam", {}, 20),
      Reaching("g2", "w2", "gd", {}, 30), Reaching("a2", "w2", "adam", {}, 40),
      Reaching("g3", "w3", "gd", {}, -1), Reaching("a3", "w3", "adam", {}, 10),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->workloads, ElementsAre("w1", "w2", "w3"));
  EXPECT_THAT(result->optimizers, ElementsAre("gd", "adam"));
  ASSERT_EQ(result->entries.size(), 6u);
  EXPECT_DOUBLE_EQ(EntryOf(*result, "w1", "gd").ratio, 2);
  EXPECT_DOUBLE_EQ(EntryOf(*result, "w1", "adam").ratio, 1);
  EXPECT_DOUBLE_EQ(EntryOf(*result, "w2", "gd").ratio, 1);
  EXPECT_DOUBLE_EQ(EntryOf(*result, "w2", "adam").ratio, 40.0 / 30);
  EXPECT_EQ(EntryOf(*result, "w3", "gd").ratio, kInf);
  EXPECT_DOUBLE_EQ(EntryOf(*result, "w3", "adam").ratio, 1);

  ASSERT_EQ(result->curves.size(), 2u);
  const ProfileCurve& gd = result->curves[0];
  const ProfileCurve& adam = result->curves[1];
  EXPECT_EQ(gd.optimizer, "gd");
  EXPECT_THAT(gd.breakpoints, ElementsAre(Pair(1.0, 1.0 / 3), Pair(2.0, 2.0 / 3)));
  EXPECT_THAT(adam.breakpoints, ElementsAre(Pair(1.0, 2.0 / 3), Pair(40.0 / 30, 1.0)));
  EXPECT_EQ(Rho(gd, 0.99), 0);
  EXPECT_DOUBLE_EQ(Rho(gd, 1), 1.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(gd, 1.5), 1.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(gd, 1.999), 1.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(gd, 2), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(gd, 4), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(gd, 1e9), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(adam, 1), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(adam, 1.3), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Rho(adam, 1.5), 1);

  // The table shows rho at 1, 1.5, 2 and 4; JSON the same and the breakpoints.
  ProfileQuestion q{"loss", "train", 0, 0, Target(0.5), {{"w1", "first"}}};
  const std::string table = ProfileToTable(*result, q);
  EXPECT_THAT(table, HasSubstr("train loss (overall) <= 0.5"));
  EXPECT_THAT(table, ContainsRegex("\nw1 \\(first\\) +gd +- +1 +1/1 +40 +4\\.5 +0\\.1 +2\n"));
  EXPECT_THAT(table, ContainsRegex("\nw3 +gd +- \\(best final\\) +1 +0/1 +inf +inf +1 +inf\n"));
  EXPECT_THAT(table, HasSubstr("gd         0.333  0.333    0.667  0.667"));
  EXPECT_THAT(table, HasSubstr("adam       0.667  1        1      1"));
  const std::string json = ProfileToJson(*result, q);
  EXPECT_THAT(json, HasSubstr("\"rho\":{\"1\":0.3333333333333333,\"1.5\":0.3333333333333333,"
                              "\"2\":0.6666666666666666,\"4\":0.6666666666666666}"));
  EXPECT_THAT(
      json,
      HasSubstr("{\"workload\":\"w3\",\"workload_name\":null,\"optimizer\":\"gd\",\"setting\":"
                "{\"optimizer\":\"gd\"},\"settings\":1,\"reached\":0,\"seeds\":1,"
                "\"median_steps\":null"));
  EXPECT_THAT(json, HasSubstr("{\"workload\":\"w1\",\"workload_name\":\"first\","));
  EXPECT_THAT(json, HasSubstr("\"runs\":[{\"job_id\":\"a2\",\"step\":40,\"seconds\":4.5,"));
  EXPECT_THAT(ProfileToCsv(*result), HasSubstr("\nw2,adam,-,1,1,1,40,4.5,0.1,40,"
                                               "1.3333333333333333,true\n"));
}

TEST(ProfileTest, AWorkloadNobodySolvesCountsAgainstEveryone) {
  // w1: gd 10, adam 20; w2: nobody. rho_gd = 1/2 from 1 on, rho_adam = 1/2 from 2 on.
  std::vector<ProfileRun> runs = {
      Reaching("g1", "w1", "gd", {}, 10),
      Reaching("a1", "w1", "adam", {}, 20),
      Reaching("g2", "w2", "gd", {}, -1),
      Reaching("a2", "w2", "adam", {}, -1),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(EntryOf(*result, "w2", "gd").ratio, kInf);
  EXPECT_EQ(EntryOf(*result, "w2", "adam").ratio, kInf);
  EXPECT_THAT(result->curves[0].breakpoints, ElementsAre(Pair(1.0, 0.5)));
  EXPECT_THAT(result->curves[1].breakpoints, ElementsAre(Pair(2.0, 0.5)));
  EXPECT_EQ(Rho(result->curves[1], 1.9), 0);
  EXPECT_EQ(Rho(result->curves[1], 1e9), 0.5);
}

TEST(ProfileTest, AnOptimizerNotRunOnAWorkloadFailsIt) {
  std::vector<ProfileRun> runs = {
      Reaching("g1", "w1", "gd", {}, 10),
      Reaching("a1", "w1", "adam", {}, 10),
      Reaching("a2", "w2", "adam", {}, 10),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok());
  const ProfileEntry& e = EntryOf(*result, "w2", "gd");
  EXPECT_EQ(e.settings, 0);
  EXPECT_FALSE(e.best.has_value());
  EXPECT_EQ(e.ratio, kInf);
  EXPECT_DOUBLE_EQ(Rho(result->curves[0], 4), 0.5);
  EXPECT_DOUBLE_EQ(Rho(result->curves[1], 1), 1);
  EXPECT_THAT(ProfileToTable(*result, {"loss", "train", 0, 0, Target(0.5), {}}),
              HasSubstr("w2        gd         (not run)"));
}

TEST(ProfileTest, TargetMetAtTheFirstEvaluation) {
  // Best time 0: a ratio of 0 / 0 is 1, any later time cannot be within a factor of it.
  std::vector<ProfileRun> runs = {
      Reaching("g1", "w1", "gd", {}, 0),
      Reaching("a1", "w1", "adam", {}, 10),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(EntryOf(*result, "w1", "gd").ratio, 1);
  EXPECT_EQ(EntryOf(*result, "w1", "adam").ratio, kInf);
}

TEST(ProfileTest, SecondsMeasureChoosesAndComparesByWallSeconds) {
  // lr=1 reaches at step 20 after 1 s; lr=2 at step 10 after 3 s; adam at step 40 after 2 s.
  ProfileRun slow_steps = MakeRun("a", "w", "gd", {{"lr", "1"}}, {1, 1, 0.1});
  slow_steps.wall_seconds = {{0, 0.1}, {10, 0.5}, {20, 1.0}};
  ProfileRun fast_steps = MakeRun("b", "w", "gd", {{"lr", "2"}}, {1, 0.1, 0.1});
  fast_steps.wall_seconds = {{0, 0.1}, {10, 3.0}, {20, 6.0}};
  ProfileRun adam = MakeRun("c", "w", "adam", {}, {1, 1, 1, 1, 0.1});
  adam.wall_seconds = {{0, 0.1}, {10, 0.5}, {20, 1.0}, {30, 1.5}, {40, 2.0}};
  const std::vector<ProfileRun> runs = {slow_steps, fast_steps, adam};

  auto steps = ComputeProfile(runs, Target(0.5, Goal::kMin, TimeMeasure::kSteps));
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(EntryOf(*steps, "w", "gd").best->setting.at("lr"), "2");
  EXPECT_DOUBLE_EQ(EntryOf(*steps, "w", "gd").best->median_seconds, 3.0);
  EXPECT_DOUBLE_EQ(EntryOf(*steps, "w", "adam").ratio, 4);  // 40 / 10 steps

  auto seconds = ComputeProfile(runs, Target(0.5, Goal::kMin, TimeMeasure::kSeconds));
  ASSERT_TRUE(seconds.ok());
  const ProfileEntry& gd = EntryOf(*seconds, "w", "gd");
  EXPECT_EQ(gd.best->setting.at("lr"), "1");
  EXPECT_DOUBLE_EQ(gd.time, 1.0);
  EXPECT_DOUBLE_EQ(gd.best->median_steps, 20);
  EXPECT_DOUBLE_EQ(EntryOf(*seconds, "w", "adam").ratio, 2);  // 2 s / 1 s

  // Reached where no wall_seconds was reported: an error for seconds, a blank for steps.
  ProfileRun unreported = adam;
  unreported.wall_seconds.clear();
  auto missing = ComputeProfile({unreported}, Target(0.5, Goal::kMin, TimeMeasure::kSeconds));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("job c reached the target at step 40"));
  auto blank = ComputeProfile({unreported}, Target(0.5));
  ASSERT_TRUE(blank.ok());
  EXPECT_TRUE(std::isnan(blank->entries[0].best->median_seconds));
  EXPECT_EQ(blank->entries[0].time, 40);
}

TEST(ProfileTest, BadInputsAreErrors) {
  const ProfileRun run = Reaching("g1", "w1", "gd", {}, 10);
  for (double bad : {static_cast<double>(NAN), kInf}) {
    auto result = ComputeProfile({run}, Target(bad));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("target"));
  }
  EXPECT_EQ(ComputeProfile({}, Target(0.5)).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A QueryMetrics answer for `jobs` with 3 frequency groups: at step s the group g value is
// 1 - s / (10 * (g + 1)) for job 0 and twice as slow for job 1; wall_seconds = s / 100.
struct FakeQuery {
  v1::QueryMetricsResponse metric;
  v1::QueryMetricsResponse seconds;
};
FakeQuery ThreeGroups() {
  FakeQuery q;
  for (int j = 0; j < 3; ++j) {
    v1::Job job;
    job.set_id(absl::StrCat("j", j));
    job.set_sweep_id("s-1");
    job.set_state(j == 2 ? v1::JOB_STATE_RUNNING : v1::JOB_STATE_SUCCEEDED);
    (*job.mutable_labels())["seed"] = absl::StrCat(j);
    (*job.mutable_labels())["lr"] = "0.1";
    job.mutable_spec()->mutable_optimizer()->set_name("adam");  // no optimizer label
    v1::Series* s = q.metric.add_series();
    *s->mutable_job() = job;
    s->set_metric("loss");
    v1::Series* w = q.seconds.add_series();
    *w->mutable_job() = job;
    w->set_metric("wall_seconds");
    w->add_groups();
    for (int g = 0; g < 3; ++g) {
      v1::ClassGroup* group = s->add_groups();
      group->set_index(g);
      group->set_num_classes(g + 1);
      for (int k = 0; k <= g; ++k) group->add_classes(g * (g + 1) / 2 + k);
    }
    for (int step = 0; step <= 100; step += 10) {
      v1::SeriesPoint* p = s->add_points();
      p->set_step(step);
      for (int g = 0; g < 3; ++g) p->add_values(1 - step / (10.0 * (g + 1) * (j + 1)));
      v1::SeriesPoint* ws = w->add_points();
      ws->set_step(step);
      ws->add_values(step / 100.0);
    }
  }
  return q;
}

TEST(ProfileTest, AdapterReadsTheChosenFrequencyGroup) {
  const FakeQuery q = ThreeGroups();
  // Group 3 (the rarest) of job 0: 1 - s / 30 <= 0 first at s = 30; job 1: 1 - s / 60 at 60.
  auto input = ProfileRunsFromQuery(q.metric, q.seconds, 3);
  ASSERT_TRUE(input.ok()) << input.status();
  ASSERT_EQ(input->runs.size(), 2u);  // the running job is left out
  EXPECT_THAT(input->left_out, ElementsAre(Pair("running", 1)));
  EXPECT_EQ(input->runs[0].optimizer, "adam");
  EXPECT_EQ(input->runs[0].workload, "s-1");
  EXPECT_THAT(input->runs[0].setting, ElementsAre(Pair("lr", "0.1")));
  EXPECT_DOUBLE_EQ(input->runs[0].curve[3].second, 0);
  EXPECT_DOUBLE_EQ(input->runs[1].wall_seconds.at(60), 0.6);
  auto rarest = ComputeProfile(input->runs, Target(1e-9));
  ASSERT_TRUE(rarest.ok());
  const ProfileEntry& e = rarest->entries[0];
  EXPECT_EQ(e.best->runs[0].step, 30);
  EXPECT_EQ(e.best->runs[1].step, 60);
  EXPECT_DOUBLE_EQ(e.best->median_steps, 45);
  EXPECT_DOUBLE_EQ(e.best->median_seconds, 0.45);
  // Group 1: at s = 10 and 20.
  auto first = ProfileRunsFromQuery(q.metric, q.seconds, 1);
  ASSERT_TRUE(first.ok());
  auto frequent = ComputeProfile(first->runs, Target(1e-9));
  ASSERT_TRUE(frequent.ok());
  EXPECT_DOUBLE_EQ(frequent->entries[0].best->median_steps, 15);
}

TEST(ProfileTest, ASweepOverSeveralProblemsIsSeveralWorkloads) {
  EXPECT_EQ(WorkloadOf("s-1", {{"optimizer", "adam"},
                               {"lr", "0.1"},
                               {"dataset.m", "5"},
                               {"model", "mlp"},
                               {"trainer.steps", "10"},
                               {"aux_optimizer.lr", "1"}}),
            "s-1 dataset.m=5 model=mlp");
  EXPECT_EQ(WorkloadOf("s-1", {{"optimizer", "adam"}, {"lr", "0.1"}}), "s-1");
  FakeQuery q = ThreeGroups();
  (*q.metric.mutable_series(1)->mutable_job()->mutable_labels())["dataset.m"] = "5";
  auto input = ProfileRunsFromQuery(q.metric, q.seconds, 1);
  ASSERT_TRUE(input.ok());
  ASSERT_EQ(input->runs.size(), 2u);
  EXPECT_EQ(input->runs[0].workload, "s-1");
  EXPECT_EQ(input->runs[1].workload, "s-1 dataset.m=5");
  auto result = ComputeProfile(input->runs, Target(1e-9));
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(result->workloads, ElementsAre("s-1", "s-1 dataset.m=5"));
  ProfileQuestion question{"loss", "train", 1, 3, Target(1e-9), {{"s-1", "sweep one"}}};
  EXPECT_THAT(ProfileToTable(*result, question), HasSubstr("\ns-1 dataset.m=5 (sweep one)  adam"));
}

TEST(ProfileTest, AdapterErrorsNameTheGroupAndTheJob) {
  FakeQuery q = ThreeGroups();
  auto beyond = ProfileRunsFromQuery(q.metric, q.seconds, 4);
  EXPECT_EQ(beyond.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(beyond.status().message(),
              HasSubstr("group: 4 is out of range: job j0's loss has 3"));
  // Overall (group 0) takes the only value; here the first of three.
  EXPECT_TRUE(ProfileRunsFromQuery(q.metric, q.seconds, 0).ok());
  // A scalar (one group listing no classes) has no frequency groups, not even group 1.
  auto scalar = ProfileRunsFromQuery(q.seconds, q.seconds, 1);
  EXPECT_EQ(scalar.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(scalar.status().message(), HasSubstr("wall_seconds is a scalar (job j0)"));
  EXPECT_TRUE(ProfileRunsFromQuery(q.seconds, q.seconds, 0).ok());
  q.metric.mutable_series(1)->mutable_groups(1)->set_num_classes(0);
  q.metric.mutable_series(1)->mutable_groups(1)->clear_classes();
  auto empty = ProfileRunsFromQuery(q.metric, q.seconds, 2);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(empty.status().message(), HasSubstr("group: 2 has no classes in job j1"));
  for (v1::Series& s : *q.metric.mutable_series()) s.mutable_job()->set_state(v1::JOB_STATE_QUEUED);
  auto none = ProfileRunsFromQuery(q.metric, q.seconds, 1);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(none.status().message(), HasSubstr("no finished job to profile"));
  EXPECT_THAT(none.status().message(), HasSubstr("3 queued"));
}

TEST(ProfileTest, SvgDrawsAStepLinePerOptimizer) {
  std::vector<ProfileRun> runs = {
      Reaching("g1", "w1", "gd", {}, 40),
      Reaching("a1", "w1", "adam", {}, 20),
      Reaching("g2", "w2", "gd", {}, 30),
      Reaching("a2", "w2", "adam", {}, 90),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok());
  ProfilePlotOptions options;
  options.title = "a & b";
  auto svg = ProfileToSvg(*result, options);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_THAT(*svg, HasSubstr(">a &amp; b</text>"));
  EXPECT_THAT(*svg, HasSubstr(">gd</text>"));
  EXPECT_THAT(*svg, HasSubstr(">adam</text>"));
  // gd: r = 2, 1 -> 1/2 at 1, 1 from 2: start, the step at 2 (two points), the end: 4 points.
  // adam: r = 1, 3 -> 1/2 at 1, 1 from 3: 4 points too.
  for (const std::string key : {"data-optimizer=\"0\"", "data-optimizer=\"1\""}) {
    const size_t at = svg->find("<polyline " + key);
    ASSERT_NE(at, std::string::npos) << key;
    const size_t points = svg->find("points=\"", at) + 8;
    const std::string list = svg->substr(points, svg->find('"', points) - points);
    EXPECT_EQ(std::count(list.begin(), list.end(), ','), 4) << key << ": " << list;
  }
  // With tau_max below adam's step at 3 its line stays at 1/2: start and end only.
  options.tau_max = 2.5;
  auto narrow = ProfileToSvg(*result, options);
  ASSERT_TRUE(narrow.ok());
  const size_t at = narrow->find("<polyline data-optimizer=\"1\"");
  const size_t points = narrow->find("points=\"", at) + 8;
  const std::string list = narrow->substr(points, narrow->find('"', points) - points);
  EXPECT_EQ(std::count(list.begin(), list.end(), ','), 2) << list;

  options.tau_max = 1;
  EXPECT_EQ(ProfileToSvg(*result, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.tau_max = 4;
  options.width = 50;
  EXPECT_EQ(ProfileToSvg(*result, options).status().code(), absl::StatusCode::kInvalidArgument);
}

// The bars: gd 40 and 30 steps, adam 20 and never on w2; the axis from 0 to the longest time
// (40 * 1.05, widened to its last tick, 50), so a bar's width is time / 50 of the plot box.
TEST(ProfileTest, TimeToTargetBarsHaveTheMedianTimesAndMarkWhatNeverReached) {
  std::vector<ProfileRun> runs = {
      Reaching("g1", "w1", "gd", {{"lr", "0.1"}}, 40),
      Reaching("a1", "w1", "adam", {{"lr", "0.01"}}, 20),
      Reaching("g2", "w2", "gd", {{"lr", "0.1"}}, 30),
      Reaching("a2", "w2", "adam", {{"lr", "0.01"}}, -1),
  };
  auto result = ComputeProfile(runs, Target(0.5));
  ASSERT_TRUE(result.ok());
  ProfileQuestion question;
  question.options = Target(0.5);
  question.workload_names = {{"w1", "first <sweep>"}};
  ProfilePlotOptions options;
  options.width = 800;
  auto svg = TimeToTargetToSvg(*result, question, options);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_THAT(*svg, HasSubstr(">w1 (first &lt;sweep&gt;)</text>"));
  EXPECT_THAT(*svg, HasSubstr(">w2</text>"));
  EXPECT_THAT(*svg, HasSubstr("median steps to reach the target"));
  // Plot box: x from 260 (labels) to 800 - 170 (legend) - 14 = 616, so 356 px for 0..50.
  auto bar_width = [&](const std::string& key) -> double {
    const size_t at = svg->find("<rect " + key);
    if (at == std::string::npos) return -1;
    const size_t w = svg->find("width=\"", at) + 7;
    return std::stod(svg->substr(w, svg->find('"', w) - w));
  };
  EXPECT_NEAR(bar_width("data-workload=\"0\" data-optimizer=\"0\" data-value=\"40\""),
              356.0 * 40 / 50, 0.01);
  EXPECT_NEAR(bar_width("data-workload=\"0\" data-optimizer=\"1\" data-value=\"20\""),
              356.0 * 20 / 50, 0.01);
  EXPECT_NEAR(bar_width("data-workload=\"1\" data-optimizer=\"0\" data-value=\"30\""),
              356.0 * 30 / 50, 0.01);
  // adam never reached on w2: no bar, a note instead.
  EXPECT_EQ(bar_width("data-workload=\"1\" data-optimizer=\"1\""), -1);
  EXPECT_THAT(*svg, HasSubstr("<text data-workload=\"1\" data-optimizer=\"1\" "
                              "data-value=\"inf\""));
  EXPECT_THAT(*svg, HasSubstr(">adam: not reached</text>"));
  EXPECT_THAT(*svg, HasSubstr("<title>gd lr=0.1: 40 steps, 1/1 seeds reached</title>"));
  EXPECT_THAT(*svg, HasSubstr(">50</text>"));  // the last tick

  options.width = 50;
  EXPECT_EQ(TimeToTargetToSvg(*result, question, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TimeToTargetToSvg(ProfileResult(), question, ProfilePlotOptions()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace optbench::report
