#include "report/format.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optbench::report {
namespace {

v1::QueryMetricsResponse TwoJobs() {
  v1::QueryMetricsResponse r;
  for (int j = 0; j < 2; ++j) {
    v1::Series* s = r.add_series();
    s->mutable_job()->set_id(j == 0 ? "s-1-0" : "s-1-1");
    s->mutable_job()->set_sweep_id("s-1");
    s->mutable_job()->set_state(v1::JOB_STATE_SUCCEEDED);
    (*s->mutable_job()->mutable_labels())["optimizer"] = j == 0 ? "gd" : "adam";
    (*s->mutable_job()->mutable_labels())["seed"] = "0";
    (*s->mutable_job()->mutable_labels())["lr"] = j == 0 ? "0.1" : "a,\"b\"";
    s->set_metric("loss");
    s->set_split(v1::SPLIT_TRAIN);
    for (int g = 0; g < 2; ++g) {
      v1::ClassGroup* group = s->add_groups();
      group->set_index(g);
      group->set_num_classes(g + 1);
      group->set_train_examples(10);
    }
    v1::SeriesPoint* p = s->add_points();
    p->set_step(5);
    p->add_values(1.5);
    p->add_values(std::nan(""));
  }
  return r;
}

TEST(FormatTest, LabelKeysPutOptimizerFirstAndSeedLast) {
  v1::QueryMetricsResponse r = TwoJobs();
  EXPECT_EQ(LabelKeys({&r.series(0).job(), &r.series(1).job()}),
            (std::vector<std::string>{"optimizer", "lr", "seed"}));
  EXPECT_EQ(JobTitle(r.series(0).job()), "gd lr=0.1 seed=0");
}

TEST(FormatTest, DistinguishingTitlesShowWhatDiffersInFull) {
  // Two jobs that a 28-character cut made read the same: only their last label differs.
  std::vector<v1::Job> jobs(3);
  for (int i = 0; i < 3; ++i) {
    auto& labels = *jobs[i].mutable_labels();
    jobs[i].set_id(absl::StrCat("s-1-", i));
    labels["optimizer"] = "adamuon";
    labels["seed"] = "0";
    labels["lr"] = "0.000312";
    labels["trainer.steps"] = "400";
    labels["model.hidden"] = i == 2 ? "[256]" : "[128, 128]";
    labels["weight_decay"] = i == 1 ? "0.1" : "0.01";
  }
  std::vector<const v1::Job*> ptrs = {&jobs[0], &jobs[1], &jobs[2]};
  EXPECT_THAT(DistinguishingTitles(ptrs),
              ::testing::ElementsAre("hidden=[128, 128] weight_decay=0.01",
                                     "hidden=[128, 128] weight_decay=0.1",
                                     "hidden=[256] weight_decay=0.01"));
  // Short keys that would read the same stay whole; nothing differing: the job id.
  (*jobs[0].mutable_labels())["optimizer.hidden"] = "1";
  (*jobs[1].mutable_labels())["optimizer.hidden"] = "2";
  EXPECT_EQ(DistinguishingTitles(ptrs)[0],
            "model.hidden=[128, 128] optimizer.hidden=1 weight_decay=0.01");
  EXPECT_THAT(DistinguishingTitles({&jobs[0]}), ::testing::ElementsAre("s-1-0"));
}

TEST(FormatTest, EtaFollowsTheJobsPaceSinceItStarted) {
  const absl::Time now = absl::FromUnixSeconds(1'000'000);
  v1::Job job;
  job.set_state(v1::JOB_STATE_RUNNING);
  job.set_total_steps(400);
  job.set_progress_step(100);
  job.mutable_started_at()->set_seconds(1'000'000 - 60);  // 100 steps a minute: 3 minutes left.
  EXPECT_EQ(FormatEta(job, now), "3m01s");
  job.set_progress_step(0);
  EXPECT_EQ(FormatEta(job, now), "-");  // No pace yet.
  job.set_progress_step(399);
  EXPECT_EQ(FormatEta(job, now), "1s");
  job.set_state(v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(FormatEta(job, now), "-");
}

TEST(FormatTest, CsvQuotesFieldsAndLeavesNanEmpty) {
  const std::string csv = QueryToCsv(TwoJobs());
  EXPECT_EQ(csv,
            "job_id,sweep_id,state,optimizer,lr,seed,step,split,metric,group,group_classes,"
            "group_train_examples,value\n"
            "s-1-0,s-1,succeeded,gd,0.1,0,5,train,loss,1,1,10,1.5\n"
            "s-1-0,s-1,succeeded,gd,0.1,0,5,train,loss,2,2,10,\n"
            "s-1-1,s-1,succeeded,adam,\"a,\"\"b\"\"\",0,5,train,loss,1,1,10,1.5\n"
            "s-1-1,s-1,succeeded,adam,\"a,\"\"b\"\"\",0,5,train,loss,2,2,10,\n");
}

TEST(FormatTest, JsonUsesNullForNanAndEscapesStrings) {
  const std::string json = QueryToJson(TwoJobs());
  EXPECT_NE(json.find("\"value\":null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"value\":1.5"), std::string::npos) << json;
  EXPECT_NE(json.find("\"lr\":\"a,\\\"b\\\"\""), std::string::npos) << json;
  EXPECT_EQ(json.front(), '[');
  // Groups are numbered as the table and the plots number them: 1 = the most frequent.
  EXPECT_NE(json.find("\"group\":1,\"group_classes\":1,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"group\":2,\"group_classes\":2,"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"group\":0"), std::string::npos) << json;
}

// Per class, every output names a class by its own id: the table's columns and the CSV/JSON
// `class` column alike (groups count from 1 only when they are frequency groups).
TEST(FormatTest, PerClassOutputsUseTheClassIds) {
  const std::string table = QueryToTable(TwoJobs(), 4, v1::GROUP_BY_CLASS);
  EXPECT_NE(table.find("by class (the data set's class ids)"), std::string::npos) << table;
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 2u) << table;
  EXPECT_TRUE(absl::EndsWith(lines[1], "       0       1")) << table;  // The column header.
  const std::string json = QueryToJson(TwoJobs(), v1::GROUP_BY_CLASS);
  EXPECT_NE(json.find("\"class\":0,"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"group\":"), std::string::npos) << json;
}

TEST(FormatTest, TableShowsOneRowPerJobAndDashForMissing) {
  const std::string table = QueryToTable(TwoJobs(), 4);
  EXPECT_NE(table.find("step 5 - train loss by group"), std::string::npos) << table;
  EXPECT_NE(table.find("gd lr=0.1 seed=0"), std::string::npos) << table;
  EXPECT_NE(table.find("  1.500       -"), std::string::npos) << table;
}

TEST(FormatTest, TableNamesTheItemsOfAPerItemMetric) {
  v1::QueryMetricsResponse r = TwoJobs();
  for (v1::Series& s : *r.mutable_series()) {
    s.set_metric("block_mse");
    s.mutable_groups(0)->set_label("block0");
    s.mutable_groups(1)->set_label("head");
  }
  const std::string table = QueryToTable(r, 4);
  EXPECT_NE(table.find("step 5 - train block_mse by item\n"), std::string::npos) << table;
  EXPECT_NE(table.find("  block0    head\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("most frequent"), std::string::npos) << table;
}

// Two settings over seeds: gd (n = 3, an interval) and adam (n = 1: no spread, no interval).
v1::QueryMetricsResponse TwoSettings() {
  v1::QueryMetricsResponse r;
  for (int i = 0; i < 2; ++i) {
    v1::AggregateSeries* a = r.add_aggregates();
    (*a->mutable_labels())["optimizer"] = i == 0 ? "gd" : "adam";
    (*a->mutable_labels())["lr"] = "0.1";
    a->add_job_ids(i == 0 ? "s-1-0" : "s-1-3");
    a->set_metric("loss");
    a->set_split(v1::SPLIT_TRAIN);
    for (int g = 0; g < 2; ++g) {
      v1::ClassGroup* group = a->add_groups();
      group->set_index(g);
      group->set_num_classes(g + 1);
      group->set_train_examples(10);
    }
    v1::AggregatePoint* p = a->add_points();
    p->set_step(5);
    v1::AggregateValue* v = p->add_values();
    v->set_mean(1.5);
    v->set_n(i == 0 ? 3 : 1);
    v->set_std(i == 0 ? 0.5 : std::nan(""));
    v->set_ci_low(i == 0 ? 0.25 : std::nan(""));
    v->set_ci_high(i == 0 ? 2.75 : std::nan(""));
    v1::AggregateValue* empty = p->add_values();
    empty->set_mean(std::nan(""));
    empty->set_std(std::nan(""));
    empty->set_ci_low(std::nan(""));
    empty->set_ci_high(std::nan(""));
  }
  return r;
}

TEST(FormatTest, AggregatesGiveEveryFieldInCsvAndJson) {
  EXPECT_EQ(AggregatesToCsv(TwoSettings()),
            "optimizer,lr,step,split,metric,group,group_classes,group_train_examples,mean,std,n,"
            "ci_low,ci_high\n"
            "gd,0.1,5,train,loss,1,1,10,1.5,0.5,3,0.25,2.75\n"
            "gd,0.1,5,train,loss,2,2,10,,,0,,\n"
            "adam,0.1,5,train,loss,1,1,10,1.5,,1,,\n"
            "adam,0.1,5,train,loss,2,2,10,,,0,,\n");
  const std::string json = AggregatesToJson(TwoSettings(), v1::GROUP_BY_FREQUENCY);
  EXPECT_NE(json.find("{\"labels\":{\"lr\":\"0.1\",\"optimizer\":\"gd\"},\"jobs\":[\"s-1-0\"],"
                      "\"step\":5,\"split\":\"train\",\"metric\":\"loss\",\"group\":1,"
                      "\"group_classes\":1,\"group_train_examples\":10,\"mean\":1.5,\"std\":0.5,"
                      "\"n\":3,\"ci_low\":0.25,\"ci_high\":2.75}"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"mean\":null,\"std\":null,\"n\":0,\"ci_low\":null,\"ci_high\":null"),
            std::string::npos)
      << json;
}

TEST(FormatTest, AggregateTableShowsMeanPlusMinusHalfWidthAndN) {
  const std::string table = AggregatesToTable(TwoSettings(), 6);
  EXPECT_NE(table.find("step 5 - train loss, mean ± 95 % CI (n) over seeds by group"),
            std::string::npos)
      << table;
  // Only what differs names a setting; the half-width is ci_high - mean.
  EXPECT_NE(table.find("  gd       1.500 ± 1.250 (3)  -\n"), std::string::npos) << table;
  EXPECT_NE(table.find("  adam             1.500 (1)  -\n"), std::string::npos) << table;
}

TEST(FormatTest, AggregateTableByClassNamesColumnsByClassId) {
  const std::string table = AggregatesToTable(TwoSettings(), 6, v1::GROUP_BY_CLASS);
  EXPECT_NE(table.find("over seeds by class (the data set's class ids)"), std::string::npos)
      << table;
  // Two groups here: class ids 0 and 1, not the frequency groups' 1 and 2.
  EXPECT_NE(table.find("  setting                  0  1\n"), std::string::npos) << table;
  EXPECT_EQ(table.find("by group"), std::string::npos) << table;
}

TEST(FormatTest, JobListingShowsKeptModelSizesOnlyWhenThereAreSome) {
  std::vector<v1::Job> jobs(2);
  jobs[0].set_id("s-1-0");
  jobs[1].set_id("s-1-1");
  EXPECT_EQ(JobsToTable(jobs).find("model"), std::string::npos);
  jobs[0].mutable_kept_model()->set_size_bytes(1258291);
  const std::string table = JobsToTable(jobs);
  EXPECT_NE(table.find("progress  model"), std::string::npos) << table;
  EXPECT_NE(table.find("0/0       1.2 MiB"), std::string::npos) << table;
  EXPECT_NE(table.find("0/0       -"), std::string::npos) << table;
}

TEST(FormatTest, BytesGetTheLargestUnitBelowTheirSize) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(3584), "3.5 KiB");
  EXPECT_EQ(FormatBytes(40 << 20), "40 MiB");
  EXPECT_EQ(FormatBytes(int64_t{5} << 30), "5.0 GiB");
}

TEST(FormatTest, TableSpreadsStepsKeepingFirstAndLast) {
  v1::QueryMetricsResponse r;
  v1::Series* s = r.add_series();
  s->mutable_job()->set_id("j");
  for (int step = 0; step <= 100; step += 10) {
    v1::SeriesPoint* p = s->add_points();
    p->set_step(step);
    p->add_values(step);
  }
  const std::string table = QueryToTable(r, 3);
  EXPECT_NE(table.find("step 0 "), std::string::npos);
  EXPECT_NE(table.find("step 50 "), std::string::npos);
  EXPECT_NE(table.find("step 100 "), std::string::npos);
  EXPECT_EQ(table.find("step 10 "), std::string::npos);
}

TEST(FormatTest, MetricsListAlignsDocsPastTheLongestNameAndMarksStoredNamesAndTheDefault) {
  v1::ListComponentsResponse r;
  v1::TaskDeclaration* task = r.add_tasks();
  task->set_name("train");
  v1::MetricDeclaration* lr = task->add_metrics();
  lr->set_name("lr");
  lr->set_query("lr");
  lr->set_shape(v1::MetricDeclaration::SHAPE_SCALAR);
  lr->set_splits(v1::MetricDeclaration::SPLITS_TRAIN);
  lr->set_doc("step size");
  v1::ComponentDeclaration* model = r.add_components();
  model->set_kind("model");
  model->set_name("m");
  v1::MetricDeclaration* diag = model->add_metrics();
  diag->set_name("diag.a_name_longer_than_twenty_two");
  diag->set_query("diag.a_name_longer_than_twenty_two");
  diag->set_shape(v1::MetricDeclaration::SHAPE_PER_CLASS);
  diag->set_doc("long");
  v1::ComponentDeclaration* objective = r.add_components();
  objective->set_kind("objective");
  objective->set_name("o");
  v1::MetricDeclaration* loss = objective->add_metrics();
  loss->set_name("loss_sum");
  loss->set_query("loss");
  loss->set_shape(v1::MetricDeclaration::SHAPE_PER_ITEM);
  loss->set_item_kind("block");
  loss->set_doc("mean loss");
  loss->set_primary(true);
  v1::ComponentDeclaration* no_metrics = r.add_components();
  no_metrics->set_kind("optimizer");
  no_metrics->set_name("gd");

  const std::string text = MetricsToText(r);
  EXPECT_EQ(
      text,
      absl::StrCat("task train:\n",
                   "      lr                                 scalar     train        step size\n",
                   "model m:\n",
                   "      diag.a_name_longer_than_twenty_two per class  train, test  long\n",
                   "objective o:\n",
                   "      loss                               per block  train, test  mean loss "
                   "[stored as loss_sum] (default)\n"));
}

}  // namespace
}  // namespace optbench::report
