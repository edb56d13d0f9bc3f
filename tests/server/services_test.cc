// The two gRPC services end to end over an in-process channel: submit, lease, report, complete,
// query, watch, and the error paths.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "optbench/v1/worker.grpc.pb.h"
#include "report/aggregate.h"
#include "server/coordinator_service.h"
#include "server/scheduler.h"
#include "server/worker_service.h"
#include "storage/sqlite_store.h"
#include "tests/server/rpc_table.h"
#include "tests/server/services_fixture.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/catalog.h"

namespace optbench::server {
namespace {

using ::optbench::testing::AllRpcs;
using ::optbench::testing::FindRpc;
using ::optbench::testing::IsOk;
using ::optbench::testing::IsOkAndHolds;
using ::optbench::testing::Rpc;
using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kSweep = ::optbench::testing::kTinySweep;
// The same jobs with 30 steps each, for reports at steps 10, 20 and 30.
const std::string& LongSweep() {
  static const std::string* text =
      new std::string(absl::StrReplaceAll(kSweep, {{"steps: 5,", "steps: 30,"}}));
  return *text;
}

template <typename Request>
std::shared_ptr<const google::protobuf::Message> AsMessage(Request request) {
  return std::make_shared<Request>(std::move(request));
}

class ServicesTest : public ServicesFixture {
 protected:
  v1::SubmitSweepResponse Submit(const std::string& text, bool dry_run = false) {
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_sweep_text(text);
    request.set_source_name("tiny.yaml");
    request.set_dry_run(dry_run);
    v1::SubmitSweepResponse response;
    grpc::Status s = client_->SubmitSweep(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // Claims a job into `leased`, opens a Report stream for it and sends, as seq 1, a data set of
  // four classes with train counts 4, 2, 1, 1; false if no job or no acknowledgement.
  using ReportStream = grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportResponse>;
  bool StartReport(grpc::ClientContext* context, v1::AcquireJobResponse* out,
                   std::unique_ptr<ReportStream>* stream) {
    *out = Acquire();
    const v1::AcquireJobResponse& leased = *out;
    if (!leased.has_job()) return false;
    *stream = workers_->Report(context);
    v1::ReportResponse ack;
    return (*stream)->Write(FourClassDatasetInfo(leased)) && (*stream)->Read(&ack) &&
           ack.acked_seq() == 1;
  }

  // An empty metric batch of `leased`'s job at `step`, as report `seq`.
  static v1::ReportRequest MetricsReport(const v1::AcquireJobResponse& leased, int64_t seq,
                                         int64_t step) {
    v1::ReportRequest r;
    r.set_job_id(leased.job().id());
    r.set_lease_token(leased.lease_token());
    r.set_seq(seq);
    r.mutable_metrics()->set_step(step);
    return r;
  }
};

TEST_F(ServicesTest, SubmitExpandsValidatesAndLabels) {
  v1::SubmitSweepResponse r = Submit(kSweep);
  EXPECT_EQ(r.sweep().name(), "tiny");
  EXPECT_EQ(r.sweep().num_jobs(), 3);
  ASSERT_EQ(r.jobs_size(), 3);
  EXPECT_EQ(r.jobs(0).labels().at("optimizer"), "gd");
  EXPECT_EQ(r.jobs(0).labels().at("lr"), "0.1");
  EXPECT_EQ(r.jobs(1).labels().at("lr"), "0.2");
  EXPECT_EQ(r.jobs(2).labels().at("optimizer"), "adam");
  // Defaults are filled into the stored spec.
  EXPECT_DOUBLE_EQ(r.jobs(2).spec().optimizer().params().at("beta2").double_value(), 0.999);
  EXPECT_EQ(r.jobs(0).state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(r.jobs(0).total_steps(), 5);
  // Times a queued job does not have yet are absent, not epoch 0.
  EXPECT_TRUE(r.jobs(0).has_created_at());
  EXPECT_GT(r.jobs(0).created_at().seconds(), 0);
  EXPECT_FALSE(r.jobs(0).has_started_at());
  EXPECT_FALSE(r.jobs(0).has_finished_at());
}

TEST_F(ServicesTest, SweepsCarryTagsAndANoteFoundByFilters) {
  grpc::ClientContext submit_context;
  v1::SubmitSweepRequest request;
  request.set_sweep_text(absl::StrCat("tags: [paper1, lr-grid]\nnote: from the file\n", kSweep));
  request.add_tags("extra");
  request.add_tags("paper1");  // Already in the file: kept once.
  v1::SubmitSweepResponse submitted;
  grpc::Status submit_status = client_->SubmitSweep(&submit_context, request, &submitted);
  ASSERT_TRUE(submit_status.ok()) << submit_status.error_message();
  EXPECT_THAT(submitted.sweep().tags(), ::testing::ElementsAre("extra", "lr-grid", "paper1"));
  EXPECT_EQ(submitted.sweep().note(), "from the file");
  request.clear_tags();
  request.set_note("the flag's note");  // Replaces the file's.
  grpc::ClientContext second_context;
  v1::SubmitSweepResponse second;
  ASSERT_TRUE(client_->SubmitSweep(&second_context, request, &second).ok());
  EXPECT_EQ(second.sweep().note(), "the flag's note");

  grpc::ClientContext update_context;
  v1::UpdateSweepRequest update;
  update.set_sweep_id(submitted.sweep().id());
  update.add_add_tags("final");
  update.add_remove_tags("lr-grid");
  update.set_note("");
  v1::Sweep updated;
  ASSERT_TRUE(client_->UpdateSweep(&update_context, update, &updated).ok());
  EXPECT_THAT(updated.tags(), ::testing::ElementsAre("extra", "final", "paper1"));
  EXPECT_EQ(updated.note(), "");
  EXPECT_EQ(updated.num_jobs(), 3);

  auto list = [&](v1::ListSweepsRequest r) {
    grpc::ClientContext context;
    v1::ListSweepsResponse response;
    grpc::Status s = client_->ListSweeps(&context, r, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  };
  v1::ListSweepsRequest by_tag;
  by_tag.add_tags("final");
  v1::ListSweepsResponse found = list(by_tag);
  ASSERT_EQ(found.sweeps_size(), 1);
  EXPECT_EQ(found.sweeps(0).id(), submitted.sweep().id());
  EXPECT_EQ(found.total_size(), 1);
  v1::ListSweepsRequest one_per_page;
  one_per_page.set_limit(1);
  one_per_page.set_progress(v1::SWEEP_PROGRESS_ACTIVE);
  found = list(one_per_page);
  ASSERT_EQ(found.sweeps_size(), 1);
  EXPECT_EQ(found.sweeps(0).id(), second.sweep().id());  // Newest first.
  EXPECT_EQ(found.total_size(), 2);
  one_per_page.set_page_token(found.next_page_token());
  found = list(one_per_page);
  ASSERT_EQ(found.sweeps_size(), 1);
  EXPECT_EQ(found.sweeps(0).id(), submitted.sweep().id());
  EXPECT_TRUE(found.next_page_token().empty());
  v1::ListSweepsRequest done;
  done.set_progress(v1::SWEEP_PROGRESS_DONE);
  EXPECT_EQ(list(done).sweeps_size(), 0);
  grpc::ClientContext status_context;
  v1::GetStatusResponse status;
  ASSERT_TRUE(client_->GetStatus(&status_context, v1::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.total_sweeps(), 2);
}

TEST_F(ServicesTest, DeleteSweepRefusesRunningJobsAndLeavesOtherSweepsAlone) {
  v1::SubmitSweepResponse keep = Submit(kSweep);
  v1::SubmitSweepResponse drop = Submit(kSweep);
  // The oldest queued job first: lease all of `keep`, then one of `drop`.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Acquire().has_job());
  auto call = [&](const std::string& id, v1::DeleteSweepResponse* response) {
    grpc::ClientContext context;
    v1::DeleteSweepRequest request;
    request.set_sweep_id(id);
    return FromGrpcStatus(client_->DeleteSweep(&context, request, response));
  };
  v1::DeleteSweepResponse response;
  EXPECT_THAT(call(drop.sweep().id(), &response),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("1 running job(s) (", drop.sweep().id(), "-0)"))));
  ASSERT_OK(scheduler_->CancelSweep(drop.sweep().id()));
  // The running job stops only when its worker hears of the cancellation: still refused.
  EXPECT_THAT(call(drop.sweep().id(), &response), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(storage::JobRecord job, store_->GetJob(drop.sweep().id() + "-0"));
  ASSERT_OK(
      scheduler_->Complete(job.id, job.lease_token, storage::JobState::kCancelled, "cancelled"));
  ASSERT_OK(call(drop.sweep().id(), &response));
  EXPECT_EQ(response.deleted_jobs(), 3);
  EXPECT_THAT(call(drop.sweep().id(), &response), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(std::vector<storage::SweepRecord> sweeps, store_->ListSweeps(10));
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].id, keep.sweep().id());
  ASSERT_OK_AND_ASSIGN(storage::JobRecord kept, store_->GetJob(keep.sweep().id() + "-2"));
  EXPECT_EQ(kept.state, storage::JobState::kRunning);
}

TEST_F(ServicesTest, DryRunCreatesNothing) {
  v1::SubmitSweepResponse r = Submit(kSweep, /*dry_run=*/true);
  EXPECT_EQ(r.jobs_size(), 3);
  EXPECT_TRUE(r.sweep().id().empty());
  ASSERT_OK_AND_ASSIGN(auto counts, store_->CountJobs(""));
  for (const auto& [state, n] : counts) EXPECT_EQ(n, 0);
}

TEST_F(ServicesTest, BadSubmissionsNameTheProblemAndCreateNothing) {
  struct Case {
    std::string text;
    grpc::StatusCode code;
    std::string needle;
  };
  const Case cases[] = {
      {"dataset: {name: heavy_tail_uniform}\nmodel: {name: linear}\noptimizer: {name: adma}\n",
       grpc::StatusCode::INVALID_ARGUMENT, "adma"},
      {"dataset: {name: heavy_tail_uniform}\nmodel: {name: linear}\noptimizer: {name: gd, lr: "
       "-1}\n",
       grpc::StatusCode::INVALID_ARGUMENT, "lr"},
      {"dataset: {name: heavy_tail_uniform}\nmodel: {name: linear}\noptimizer: {name: gd, lr: "
       "[1,2,3,4,5,6,7,8]}\nseed: [1,2,3,4,5,6,7,8]\n",
       grpc::StatusCode::RESOURCE_EXHAUSTED, "64"},
      {"", grpc::StatusCode::INVALID_ARGUMENT, "empty"},
  };
  for (const Case& c : cases) {
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_sweep_text(c.text);
    v1::SubmitSweepResponse response;
    grpc::Status s = client_->SubmitSweep(&context, request, &response);
    EXPECT_EQ(s.error_code(), c.code) << c.text << " -> " << s.error_message();
    EXPECT_NE(s.error_message().find(c.needle), std::string::npos) << s.error_message();
  }
  EXPECT_THAT(store_->ListSweeps(10), IsOkAndHolds(IsEmpty()));
}

// Group weights and denominators are computed once per job: every step still gets its own values,
// per-example metrics divide by the group's counts and p_mass by the split's total.
TEST_F(ServicesTest, GroupedQueryComputesEveryStepFromItsOwnValues) {
  Submit(LongSweep());
  grpc::ClientContext context;
  v1::AcquireJobResponse leased;
  std::unique_ptr<ReportStream> stream;
  ASSERT_TRUE(StartReport(&context, &leased, &stream));
  const std::string job_id = leased.job().id();
  v1::ReportResponse ack;
  const std::vector<std::vector<double>> loss_sums = {{2, 2, 2, 3}, {4, 1, 0.5, 0.25}};
  const std::vector<std::vector<double>> p_mass = {{4, 2, 1, 1}, {2, 2, 2, 2}};
  for (int i = 0; i < 2; ++i) {
    v1::ReportRequest metrics = MetricsReport(leased, 2 + i, 10 * (i + 1));
    v1::MetricValue* loss = metrics.mutable_metrics()->add_values();
    loss->set_metric("loss_sum");
    loss->set_split(v1::SPLIT_TRAIN);
    for (double x : loss_sums[i]) loss->add_values(x);
    v1::MetricValue* mass = metrics.mutable_metrics()->add_values();
    mass->set_metric("p_mass");
    mass->set_split(v1::SPLIT_TRAIN);
    for (double x : p_mass[i]) mass->add_values(x);
    ASSERT_TRUE(stream->Write(metrics));
    ASSERT_TRUE(stream->Read(&ack));
    ASSERT_EQ(ack.acked_seq(), 2 + i);
  }
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  auto query = [&](const std::string& metric) {
    v1::QueryMetricsRequest q;
    q.set_job_id(job_id);
    q.set_metric(metric);
    q.set_group_by(v1::GROUP_BY_FREQUENCY);
    q.set_groups(2);
    v1::QueryMetricsResponse r;
    grpc::ClientContext qc;
    EXPECT_TRUE(client_->QueryMetrics(&qc, q, &r).ok());
    return r;
  };
  // Groups: class 0 (4 examples), classes 1-3 (4 examples); the split has 8.
  v1::QueryMetricsResponse loss = query("loss");
  ASSERT_EQ(loss.series(0).points_size(), 2);
  EXPECT_DOUBLE_EQ(loss.series(0).points(0).values(0), 2.0 / 4);
  EXPECT_DOUBLE_EQ(loss.series(0).points(0).values(1), 7.0 / 4);
  EXPECT_EQ(loss.series(0).points(1).step(), 20);
  EXPECT_DOUBLE_EQ(loss.series(0).points(1).values(0), 4.0 / 4);
  EXPECT_DOUBLE_EQ(loss.series(0).points(1).values(1), 1.75 / 4);
  v1::QueryMetricsResponse mass = query("p_mass");
  ASSERT_EQ(mass.series(0).points_size(), 2);
  EXPECT_DOUBLE_EQ(mass.series(0).points(0).values(0), 4.0 / 8);
  EXPECT_DOUBLE_EQ(mass.series(0).points(0).values(1), 4.0 / 8);
  EXPECT_DOUBLE_EQ(mass.series(0).points(1).values(0), 2.0 / 8);
  EXPECT_DOUBLE_EQ(mass.series(0).points(1).values(1), 6.0 / 8);
}

// Student t quantiles from R's qt(0.975, df).
TEST(StudentT975Test, MatchesReferenceQuantiles) {
  EXPECT_NEAR(report::StudentT975(1), 12.706204736174698, 1e-9);
  EXPECT_NEAR(report::StudentT975(2), 4.302652729911275, 1e-9);
  EXPECT_NEAR(report::StudentT975(10), 2.228138851964938, 1e-9);
  EXPECT_NEAR(report::StudentT975(30), 2.042272456301238, 1e-9);
  EXPECT_NEAR(report::StudentT975(100), 1.983971518523552, 1e-9);
  EXPECT_NEAR(report::StudentT975(1000000), 1.959966, 1e-5);
}

// Six jobs, two settings (lr) of three seeds; each job reports its own losses, and the aggregate
// is recomputed here from those values.
TEST_F(ServicesTest, QueryAggregatesOverSeedsPerSettingStepAndGroup) {
  v1::SubmitSweepResponse sweep = Submit(
      "name: seeds\ndataset: {name: heavy_tail_uniform, m: 3}\nmodel: {name: linear}\n"
      "trainer: {steps: 10, eval_every: 5}\noptimizer: {name: gd, lr: [0.1, 0.2]}\n"
      "seed: [1, 2, 3]\n");
  ASSERT_EQ(sweep.jobs_size(), 6);
  // (lr, seed) -> the overall train loss at steps 5 and 10 (NaN: no evaluation at that step).
  const double kNone = std::nan("");
  const std::map<std::pair<std::string, std::string>, std::pair<double, double>> losses = {
      {{"0.1", "1"}, {1.0, 0.5}}, {{"0.1", "2"}, {2.0, 1.5}}, {{"0.1", "3"}, {4.0, kNone}},
      {{"0.2", "1"}, {3.0, 2.0}}, {{"0.2", "2"}, {3.0, 2.5}}, {{"0.2", "3"}, {3.0, 3.5}}};
  for (int i = 0; i < 6; ++i) {
    v1::AcquireJobResponse leased = Acquire();
    ASSERT_TRUE(leased.has_job());
    const auto& labels = leased.job().labels();
    ASSERT_TRUE(labels.contains("lr") && labels.contains("seed"));
    const auto [at5, at10] = losses.at({labels.at("lr"), labels.at("seed")});
    grpc::ClientContext context;
    auto stream = workers_->Report(&context);
    std::vector<v1::ReportRequest> reports(1);
    reports[0].set_job_id(leased.job().id());
    reports[0].set_lease_token(leased.lease_token());
    reports[0].set_seq(1);
    // Class 3 has no train examples: its loss is NaN, left out of n.
    v1::DatasetInfo* d = reports[0].mutable_dataset_info();
    d->set_num_classes(4);
    for (int64_t n : {4, 2, 1, 0}) d->add_train_class_counts(n);
    for (auto [step, loss] : {std::pair<int64_t, double>{5, at5}, {10, at10}}) {
      if (std::isnan(loss)) continue;
      v1::ReportRequest& r = reports.emplace_back(MetricsReport(leased, reports.size() + 1, step));
      v1::MetricValue* v = r.mutable_metrics()->add_values();
      v->set_metric("loss_sum");
      v->set_split(v1::SPLIT_TRAIN);
      // Overall loss = sum / 7 examples = `loss`; class 0's = 7 * loss / 4; classes 1, 2: 0.
      for (double x : {7 * loss, 0.0, 0.0, 0.0}) v->add_values(x);
    }
    v1::ReportResponse ack;
    for (const v1::ReportRequest& r : reports) {
      ASSERT_TRUE(stream->Write(r) && stream->Read(&ack));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }

  auto query = [&](v1::GroupBy group_by) {
    v1::QueryMetricsRequest q;
    q.set_sweep_id(sweep.sweep().id());
    q.set_group_by(group_by);
    q.set_aggregate("seed");
    grpc::ClientContext context;
    v1::QueryMetricsResponse r;
    grpc::Status s = client_->QueryMetrics(&context, q, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r;
  };
  // Mean, sample std (n - 1), and the 95 % interval with t(0.975, n - 1) from R's qt.
  const std::map<int, double> t975 = {{1, 12.706204736174698}, {2, 4.302652729911275}};
  auto expect_stats = [&](const v1::AggregateValue& got, std::vector<double> xs,
                          const std::string& where) {
    SCOPED_TRACE(where);
    const double n = static_cast<double>(xs.size());
    ASSERT_EQ(got.n(), static_cast<int64_t>(xs.size()));
    double mean = 0;
    for (double x : xs) mean += x / n;
    double ss = 0;
    for (double x : xs) ss += (x - mean) * (x - mean);
    const double sd = std::sqrt(ss / (n - 1));
    const double half = t975.at(static_cast<int>(xs.size()) - 1) * sd / std::sqrt(n);
    EXPECT_NEAR(got.mean(), mean, 1e-12);
    EXPECT_NEAR(got.std(), sd, 1e-12);
    EXPECT_NEAR(got.ci_low(), mean - half, 1e-9);
    EXPECT_NEAR(got.ci_high(), mean + half, 1e-9);
  };

  v1::QueryMetricsResponse all = query(v1::GROUP_BY_NONE);
  EXPECT_EQ(all.series_size(), 6);  // The per-job series stay.
  ASSERT_EQ(all.aggregates_size(), 2);
  std::map<std::string, const v1::AggregateSeries*> by_lr;
  for (const v1::AggregateSeries& a : all.aggregates()) {
    EXPECT_FALSE(a.labels().contains("seed"));
    EXPECT_EQ(a.labels().at("optimizer"), "gd");
    EXPECT_EQ(a.job_ids_size(), 3);
    EXPECT_EQ(a.metric(), "loss");
    by_lr[a.labels().at("lr")] = &a;
  }
  ASSERT_EQ(by_lr.size(), 2u);
  const v1::AggregateSeries& low = *by_lr.at("0.1");
  ASSERT_EQ(low.points_size(), 2);
  EXPECT_EQ(low.points(0).step(), 5);
  ASSERT_EQ(low.points(0).values_size(), 1);
  expect_stats(low.points(0).values(0), {1.0, 2.0, 4.0}, "lr 0.1 step 5");
  // Seed 3 has no step 10: the step is aggregated over the two jobs that have it.
  EXPECT_EQ(low.points(1).step(), 10);
  expect_stats(low.points(1).values(0), {0.5, 1.5}, "lr 0.1 step 10");
  const v1::AggregateSeries& high = *by_lr.at("0.2");
  ASSERT_EQ(high.points_size(), 2);
  expect_stats(high.points(0).values(0), {3.0, 3.0, 3.0}, "lr 0.2 step 5 (std 0)");
  expect_stats(high.points(1).values(0), {2.0, 2.5, 3.5}, "lr 0.2 step 10");

  // Per class: class 3 has no targets, so no value counts (n = 0, mean NaN).
  v1::QueryMetricsResponse classes = query(v1::GROUP_BY_CLASS);
  for (const v1::AggregateSeries& a : classes.aggregates()) {
    if (a.labels().at("lr") != "0.2") continue;
    ASSERT_EQ(a.groups_size(), 4);
    const v1::AggregatePoint& p = a.points(1);
    ASSERT_EQ(p.values_size(), 4);
    expect_stats(p.values(0), {7 * 2.0 / 4, 7 * 2.5 / 4, 7 * 3.5 / 4}, "class 0");
    expect_stats(p.values(1), {0.0, 0.0, 0.0}, "class 1");
    EXPECT_EQ(p.values(3).n(), 0);
    EXPECT_TRUE(std::isnan(p.values(3).mean()));
    EXPECT_TRUE(std::isnan(p.values(3).std()));
  }

  // One job alone: n = 1, no spread and no interval.
  v1::QueryMetricsRequest one;
  one.set_job_id(low.job_ids(0));
  one.set_aggregate("seed");
  grpc::ClientContext one_context;
  v1::QueryMetricsResponse single;
  ASSERT_TRUE(client_->QueryMetrics(&one_context, one, &single).ok());
  ASSERT_EQ(single.aggregates_size(), 1);
  ASSERT_GE(single.aggregates(0).points_size(), 1);
  const v1::AggregateValue& alone = single.aggregates(0).points(0).values(0);
  EXPECT_EQ(alone.n(), 1);
  EXPECT_TRUE(std::isnan(alone.std()));
  EXPECT_TRUE(std::isnan(alone.ci_low()) && std::isnan(alone.ci_high()));

  // Without aggregate nothing is aggregated; an unknown one is refused, naming what is accepted.
  v1::QueryMetricsRequest plain;
  plain.set_sweep_id(sweep.sweep().id());
  grpc::ClientContext plain_context;
  v1::QueryMetricsResponse none;
  ASSERT_TRUE(client_->QueryMetrics(&plain_context, plain, &none).ok());
  EXPECT_EQ(none.aggregates_size(), 0);
  plain.set_aggregate("foo");
  grpc::ClientContext bad_context;
  EXPECT_THAT(FromGrpcStatus(client_->QueryMetrics(&bad_context, plain, &none)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("'foo'"), HasSubstr("seed"))));
}

TEST_F(ServicesTest, ReportedMetricsAreQueryableByFrequencyGroup) {
  v1::SubmitSweepResponse sweep = Submit(kSweep);
  grpc::ClientContext context;
  v1::AcquireJobResponse leased;
  std::unique_ptr<ReportStream> stream;
  ASSERT_TRUE(StartReport(&context, &leased, &stream));
  const std::string job_id = leased.job().id();
  v1::ReportResponse ack;

  // Per-class mean losses 0.5, 1, 2, 3 at step 2 (sums are mean * count).
  v1::ReportRequest metrics = MetricsReport(leased, 2, 2);
  v1::MetricValue* v = metrics.mutable_metrics()->add_values();
  v->set_metric("loss_sum");
  v->set_split(v1::SPLIT_TRAIN);
  for (double x : {2.0, 2.0, 2.0, 3.0}) v->add_values(x);
  ASSERT_TRUE(stream->Write(metrics));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.acked_seq(), 2);
  EXPECT_FALSE(ack.cancel_requested());
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  v1::QueryMetricsRequest q;
  q.set_job_id(job_id);
  q.set_metric("loss");
  q.set_group_by(v1::GROUP_BY_FREQUENCY);
  q.set_groups(2);
  v1::QueryMetricsResponse r;
  grpc::ClientContext qc;
  ASSERT_TRUE(client_->QueryMetrics(&qc, q, &r).ok());
  ASSERT_EQ(r.series_size(), 1);
  const v1::Series& s = r.series(0);
  // Counts 4,2,1,1 (n = 8): the first group ends at the class where the cumulative share
  // reaches 1/2, i.e. class 0 alone; the rest form group 2.
  ASSERT_EQ(s.groups_size(), 2);
  EXPECT_EQ(s.groups(0).num_classes(), 1);
  EXPECT_EQ(s.groups(0).train_examples(), 4);
  EXPECT_EQ(s.groups(1).num_classes(), 3);
  ASSERT_EQ(s.points_size(), 1);
  EXPECT_EQ(s.points(0).step(), 2);
  EXPECT_DOUBLE_EQ(s.points(0).values(0), 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(s.points(0).values(1), (2.0 + 2.0 + 3.0) / 4.0);
  EXPECT_EQ(s.job().labels().at("optimizer"), "gd");

  // Output-layer statistics are per-class values, so a group's value is their mean.
  {
    grpc::ClientContext c;
    auto s2 = workers_->Report(&c);
    v1::ReportRequest head;
    head.set_job_id(job_id);
    head.set_lease_token(leased.lease_token());
    head.set_seq(3);
    head.mutable_metrics()->set_step(2);
    v1::MetricValue* h = head.mutable_metrics()->add_values();
    h->set_metric("head_grad_norm");
    h->set_split(v1::SPLIT_TRAIN);
    for (double x : {8.0, 1.0, 2.0, 6.0}) h->add_values(x);
    ASSERT_TRUE(s2->Write(head));
    v1::ReportResponse a;
    ASSERT_TRUE(s2->Read(&a));
    s2->WritesDone();
    ASSERT_TRUE(s2->Finish().ok());
    v1::QueryMetricsRequest hq = q;
    hq.set_metric("head_grad_norm");
    v1::QueryMetricsResponse hr;
    grpc::ClientContext hc;
    ASSERT_TRUE(client_->QueryMetrics(&hc, hq, &hr).ok());
    ASSERT_EQ(hr.series(0).points_size(), 1);
    EXPECT_DOUBLE_EQ(hr.series(0).points(0).values(0), 8.0);
    EXPECT_DOUBLE_EQ(hr.series(0).points(0).values(1), (1.0 + 2.0 + 6.0) / 3.0);
  }

  // Per class.
  q.set_group_by(v1::GROUP_BY_CLASS);
  grpc::ClientContext qc2;
  ASSERT_TRUE(client_->QueryMetrics(&qc2, q, &r).ok());
  ASSERT_EQ(r.series(0).points(0).values_size(), 4);
  EXPECT_DOUBLE_EQ(r.series(0).points(0).values(1), 1.0);
  EXPECT_DOUBLE_EQ(r.series(0).points(0).values(3), 3.0);

  // Whole sweep: one series per job, in order; jobs without metrics have no points.
  v1::QueryMetricsRequest all;
  all.set_sweep_id(sweep.sweep().id());
  grpc::ClientContext qc3;
  ASSERT_TRUE(client_->QueryMetrics(&qc3, all, &r).ok());
  ASSERT_EQ(r.series_size(), 3);
  EXPECT_EQ(r.series(0).points_size(), 1);
  EXPECT_EQ(r.series(1).points_size(), 0);
}

TEST_F(ServicesTest, ReportWithStaleLeaseIsRefused) {
  Submit(kSweep);
  v1::AcquireJobResponse leased = Acquire();
  grpc::ClientContext context;
  auto stream = workers_->Report(&context);
  v1::ReportRequest hb;
  hb.set_job_id(leased.job().id());
  hb.set_lease_token("not-the-token");
  hb.set_seq(1);
  hb.mutable_heartbeat()->set_progress_step(1);
  stream->Write(hb);
  v1::ReportResponse ack;
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ServicesTest, ValuesOutsideTheJobsStepsAreRefused) {
  Submit(kSweep);  // Jobs of 5 steps.
  const v1::AcquireJobResponse leased = Acquire();
  ASSERT_TRUE(leased.has_job());
  // Each report on a stream of its own: a refused one ends its stream, not the lease.
  const auto send = [&](const std::function<void(v1::ReportRequest*)>& fill) {
    grpc::ClientContext context;
    auto stream = workers_->Report(&context);
    v1::ReportRequest r;
    r.set_job_id(leased.job().id());
    r.set_lease_token(leased.lease_token());
    r.set_seq(1);
    fill(&r);
    stream->Write(r);
    stream->WritesDone();
    v1::ReportResponse ack;
    while (stream->Read(&ack)) {
    }
    return FromGrpcStatus(stream->Finish());
  };
  const auto heartbeat = [](int64_t step) {
    return [step](v1::ReportRequest* r) { r->mutable_heartbeat()->set_progress_step(step); };
  };
  const auto checkpoint = [](int64_t step) {
    return [step](v1::ReportRequest* r) {
      r->mutable_checkpoint()->set_step(step);
      r->mutable_checkpoint()->set_data("state");
    };
  };
  const std::string job = leased.job().id();
  for (int64_t bad : {int64_t{-5}, int64_t{6}, int64_t{1} << 62}) {
    EXPECT_THAT(send(heartbeat(bad)), StatusIs(absl::StatusCode::kInvalidArgument,
                                               absl::StrCat("progress: step ", bad, " of job ", job,
                                                            " is outside [0, 5], its steps")));
  }
  EXPECT_THAT(send([](v1::ReportRequest* r) { r->mutable_metrics()->set_step(6); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("step 6 of job")));
  // A checkpoint from the future would displace the real ones (the newest two are kept).
  EXPECT_THAT(send(checkpoint(int64_t{1} << 62)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is outside [1, 0], the steps it has reported")));
  EXPECT_THAT(send(heartbeat(3)), IsOk());
  EXPECT_THAT(send(checkpoint(4)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is outside [1, 3]")));
  EXPECT_THAT(send(checkpoint(3)), IsOk());
  grpc::ClientContext context;
  v1::LoadCheckpointRequest load;
  load.set_job_id(job);
  load.set_lease_token(leased.lease_token());
  v1::LoadCheckpointResponse loaded;
  ASSERT_TRUE(workers_->LoadCheckpoint(&context, load, &loaded).ok());
  EXPECT_EQ(loaded.checkpoint().step(), 3);
  EXPECT_EQ(GetJob(job).progress_step(), 3);
}

TEST_F(ServicesTest, ReportWithUnknownMetricIsRefused) {
  Submit(kSweep);
  v1::AcquireJobResponse leased = Acquire();
  grpc::ClientContext context;
  auto stream = workers_->Report(&context);
  v1::ReportRequest m;
  m.set_job_id(leased.job().id());
  m.set_lease_token(leased.lease_token());
  m.mutable_metrics()->set_step(0);
  v1::MetricValue* v = m.mutable_metrics()->add_values();
  v->set_metric("losss");
  v->set_split(v1::SPLIT_TRAIN);
  v->add_values(1);
  stream->Write(m);
  v1::ReportResponse ack;
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("losss"), std::string::npos);
}

// Checkpoints go up the report stream (stored in order with the metrics) and come back by
// LoadCheckpoint, newest first, older ones on request; a stale lease gets neither.
TEST_F(ServicesTest, CheckpointsRoundTripThroughTheReportStream) {
  Submit(LongSweep());
  v1::AcquireJobResponse leased = Acquire();
  const std::string& id = leased.job().id();
  {
    grpc::ClientContext context;
    auto stream = workers_->Report(&context);
    for (int64_t step : {10, 20, 30}) {
      // The progress first: a checkpoint may not be past it.
      v1::ReportRequest progress;
      progress.set_job_id(id);
      progress.set_lease_token(leased.lease_token());
      progress.set_seq(step - 1);
      progress.mutable_heartbeat()->set_progress_step(step);
      ASSERT_TRUE(stream->Write(progress));
      v1::ReportResponse progress_ack;
      ASSERT_TRUE(stream->Read(&progress_ack));
      v1::ReportRequest r;
      r.set_job_id(id);
      r.set_lease_token(leased.lease_token());
      r.set_seq(step);
      r.mutable_checkpoint()->set_step(step);
      r.mutable_checkpoint()->set_data(std::string("bytes\0of step ", 14) + std::to_string(step));
      ASSERT_TRUE(stream->Write(r));
      v1::ReportResponse ack;
      ASSERT_TRUE(stream->Read(&ack));
      EXPECT_EQ(ack.acked_seq(), step);
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  auto load = [&](const std::string& token, int64_t before, v1::LoadCheckpointResponse* out) {
    grpc::ClientContext context;
    v1::LoadCheckpointRequest r;
    r.set_job_id(id);
    r.set_lease_token(token);
    r.set_before_step(before);
    return workers_->LoadCheckpoint(&context, r, out);
  };
  v1::LoadCheckpointResponse newest, older, none;
  ASSERT_TRUE(load(leased.lease_token(), 0, &newest).ok());
  EXPECT_EQ(newest.checkpoint().step(), 30);
  EXPECT_EQ(newest.checkpoint().data(), std::string("bytes\0of step 30", 16));
  ASSERT_TRUE(load(leased.lease_token(), 30, &older).ok());
  EXPECT_EQ(older.checkpoint().step(), 20);
  // Only the newest two are kept.
  ASSERT_TRUE(load(leased.lease_token(), 20, &none).ok());
  EXPECT_FALSE(none.has_checkpoint());
  v1::LoadCheckpointResponse stale;
  EXPECT_EQ(load("not-the-token", 0, &stale).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(load(leased.lease_token(), -1, &stale).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// A run declares its metrics in its DatasetInfo; model diagnostics among them travel as
// diag.<name>, per split, a scalar or one value per class; queries weight per-class means by the
// classes' examples, and a metric the job does not declare is an error naming it.
TEST_F(ServicesTest, DiagnosticMetricsAreStoredAndQueried) {
  v1::SubmitSweepResponse sweep = Submit(kSweep);
  v1::AcquireJobResponse leased = Acquire();
  const std::string& id = leased.job().id();
  grpc::ClientContext context;
  auto stream = workers_->Report(&context);
  v1::ReportRequest info;
  info.set_job_id(id);
  info.set_lease_token(leased.lease_token());
  info.set_seq(1);
  info.mutable_dataset_info()->set_num_classes(2);
  info.mutable_dataset_info()->add_train_class_counts(3);
  info.mutable_dataset_info()->add_train_class_counts(1);
  v1::MetricDeclaration* attn = info.mutable_dataset_info()->add_metrics();
  attn->set_name("diag.attn_21");
  attn->set_query("diag.attn_21");
  attn->set_shape(v1::MetricDeclaration::SHAPE_PER_CLASS);
  attn->set_splits(v1::MetricDeclaration::SPLITS_EACH);
  attn->set_aggregate(v1::MetricDeclaration::AGGREGATE_EXAMPLE_WEIGHTED);
  v1::MetricDeclaration* signal = info.mutable_dataset_info()->add_metrics();
  signal->set_name("diag.value_signal");
  signal->set_query("diag.value_signal");
  signal->set_shape(v1::MetricDeclaration::SHAPE_SCALAR);
  signal->set_splits(v1::MetricDeclaration::SPLITS_EACH);
  signal->set_aggregate(v1::MetricDeclaration::AGGREGATE_NONE);
  ASSERT_TRUE(stream->Write(info));
  v1::ReportResponse ack;
  ASSERT_TRUE(stream->Read(&ack));
  v1::ReportRequest m = info;
  m.clear_dataset_info();
  m.set_seq(2);
  m.mutable_metrics()->set_step(0);
  v1::MetricValue* per_class = m.mutable_metrics()->add_values();
  per_class->set_metric("diag.attn_21");
  per_class->set_split(v1::SPLIT_TRAIN);
  per_class->add_values(0.5);
  per_class->add_values(0.1);
  v1::MetricValue* scalar = m.mutable_metrics()->add_values();
  scalar->set_metric("diag.value_signal");
  scalar->set_split(v1::SPLIT_TRAIN);
  scalar->add_values(-2.0);
  ASSERT_TRUE(stream->Write(m));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.acked_seq(), 2);
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  v1::QueryMetricsRequest q;
  q.set_job_id(id);
  q.set_metric("diag.attn_21");
  q.set_group_by(v1::GROUP_BY_NONE);
  v1::QueryMetricsResponse r;
  grpc::ClientContext qc;
  ASSERT_TRUE(client_->QueryMetrics(&qc, q, &r).ok());
  ASSERT_EQ(r.series(0).points_size(), 1);
  EXPECT_DOUBLE_EQ(r.series(0).points(0).values(0), (3 * 0.5 + 1 * 0.1) / 4);
  q.set_metric("diag.value_signal");
  q.set_group_by(v1::GROUP_BY_CLASS);  // A scalar has no classes: one value.
  grpc::ClientContext qc2;
  ASSERT_TRUE(client_->QueryMetrics(&qc2, q, &r).ok());
  ASSERT_EQ(r.series(0).points(0).values_size(), 1);
  EXPECT_DOUBLE_EQ(r.series(0).points(0).values(0), -2.0);
  q.set_metric("diag.no_such");
  grpc::ClientContext qc3;
  const grpc::Status unknown = client_->QueryMetrics(&qc3, q, &r);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unknown.error_message(),
              HasSubstr("unknown metric 'diag.no_such'; the job declares diag.attn_21, "
                        "diag.value_signal"));
  EXPECT_THAT(unknown.error_message(), HasSubstr("; splits: train"));
  // The job's declared metrics travel with it.
  grpc::ClientContext gc;
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  ASSERT_TRUE(client_->GetJob(&gc, get, &job).ok());
  ASSERT_EQ(job.metrics_size(), 2);
  EXPECT_EQ(job.metrics(0).name(), "diag.attn_21");
  // A value of a metric the run did not declare is refused, naming it and what it declares.
  grpc::ClientContext context2;
  auto again = workers_->Report(&context2);
  v1::ReportRequest undeclared = m;
  undeclared.set_seq(3);
  undeclared.mutable_metrics()->mutable_values(0)->set_metric("grad_norm");
  ASSERT_TRUE(again->Write(undeclared));
  again->WritesDone();
  const grpc::Status refused = again->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("unknown metric 'grad_norm'"));
  q.set_metric("diag.Bad-Name");
  grpc::ClientContext qc4;
  EXPECT_EQ(client_->QueryMetrics(&qc4, q, &r).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  (void)sweep;
}

// A job succeeds only with the evaluation of its last step stored (every task reports one);
// other outcomes need none.
TEST_F(ServicesTest, SuccessNeedsTheFinalStepsMetrics) {
  v1::SubmitSweepResponse sweep = Submit(kSweep);
  const v1::AcquireJobResponse first = Acquire();
  EXPECT_THAT(Complete(first, v1::OUTCOME_SUCCEEDED, 5),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("job ", first.job().id(),
                                              " has no metrics at its final step 5"))));
  // Metrics of an earlier step do not count; a run that ended there (a convex solve converged
  // early) succeeds with them.
  ASSERT_OK(ReportEvaluation(first, 3));
  EXPECT_THAT(Complete(first, v1::OUTCOME_SUCCEEDED, 5),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("final step 5")));
  EXPECT_OK(Complete(first, v1::OUTCOME_SUCCEEDED, 3));
  EXPECT_EQ(GetJob(first.job().id()).state(), v1::JOB_STATE_SUCCEEDED);
  const v1::AcquireJobResponse second = Acquire();
  ASSERT_OK(Succeed(second, 5));
  EXPECT_EQ(GetJob(second.job().id()).state(), v1::JOB_STATE_SUCCEEDED);
  const v1::AcquireJobResponse third = Acquire();
  EXPECT_OK(Complete(third, v1::OUTCOME_DIVERGED, 2));
  EXPECT_EQ(GetJob(third.job().id()).state(), v1::JOB_STATE_DIVERGED);
  (void)sweep;
}

TEST_F(ServicesTest, WatchStreamsUntilAllJobsAreDone) {
  v1::SubmitSweepResponse sweep = Submit(kSweep);
  std::thread finisher([this] {
    for (int i = 0; i < 3; ++i) {
      v1::AcquireJobResponse leased = Acquire();
      if (absl::Status s = Succeed(leased, 5); !s.ok()) {
        ADD_FAILURE() << s;
        // Ended for good all the same, or the watch below would wait for ever.
        EXPECT_OK(Fail(leased, "test", /*release=*/false, /*permanent=*/true));
      }
    }
  });
  grpc::ClientContext context;
  v1::WatchRequest request;
  request.set_sweep_id(sweep.sweep().id());
  auto reader = client_->Watch(&context, request);
  v1::WatchEvent event;
  v1::WatchEvent last;
  int events = 0;
  while (reader->Read(&event)) {
    last = event;
    ++events;
  }
  finisher.join();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_GE(events, 1);
  ASSERT_EQ(last.jobs_size(), 3);
  for (const v1::Job& j : last.jobs()) {
    EXPECT_EQ(j.state(), v1::JOB_STATE_SUCCEEDED);
    EXPECT_EQ(j.progress_step(), 5);
  }
}

// Every RPC's bad inputs: the most specific code and a message naming the field or value. Every
// RPC that checks its input has a case here.
TEST_F(ServicesTest, BadInputToEveryRpcIsNamed) {
  struct Case {
    std::string what;
    std::string rpc;  // Its row in the RPC table.
    std::shared_ptr<const google::protobuf::Message> request;
    absl::StatusCode code;
    std::string needle;
  };
  v1::ReportRequest empty_report;
  empty_report.set_job_id("j");
  empty_report.set_lease_token("t");
  v1::ReportRequest no_token;
  no_token.set_job_id("j");
  no_token.mutable_heartbeat();
  v1::ReportRequest bad_diagnostic = empty_report;
  {
    v1::MetricValue* v = bad_diagnostic.mutable_metrics()->add_values();
    v->set_metric("diag.Attention");
    v->set_split(v1::SPLIT_TRAIN);
    v->add_values(1);
  }
  v1::ReportRequest empty_checkpoint = empty_report;
  empty_checkpoint.mutable_checkpoint()->set_step(3);
  v1::SubmitSweepRequest both;
  both.set_sweep_text(kSweep);
  both.add_jobs();
  v1::SubmitSweepRequest nan_lr;
  {
    v1::JobSpec* j = nan_lr.add_jobs();
    j->mutable_dataset()->set_name("heavy_tail_uniform");
    j->mutable_model()->set_name("linear");
    j->mutable_optimizer()->set_name("gd");
    (*j->mutable_optimizer()->mutable_params())["lr"].set_double_value(std::nan(""));
    j->mutable_trainer()->set_steps(5);
  }
  v1::SubmitSweepRequest huge_seed = nan_lr;
  (*huge_seed.mutable_jobs(0)->mutable_optimizer()->mutable_params())["lr"].set_double_value(0.1);
  huge_seed.mutable_jobs(0)->set_seed((uint64_t{1} << 53) + 1);
  v1::SubmitSweepRequest untyped = nan_lr;
  (*untyped.mutable_jobs(0)->mutable_optimizer()->mutable_params())["lr"].Clear();
  v1::SubmitSweepRequest negative_steps = nan_lr;
  (*negative_steps.mutable_jobs(0)->mutable_optimizer()->mutable_params())["lr"].set_double_value(
      0.1);
  negative_steps.mutable_jobs(0)->mutable_trainer()->set_steps(-3);
  v1::SubmitSweepRequest huge_classes;
  huge_classes.set_sweep_text(
      "dataset: {name: zipf_gaussian, classes: 100000000}\nmodel: {name: linear}\n"
      "optimizer: {name: gd}\n");
  v1::SubmitSweepRequest attempts;
  attempts.set_sweep_text(kSweep);
  attempts.set_max_attempts(-1);
  v1::SubmitSweepRequest too_many;
  for (int i = 0; i < 51; ++i) too_many.add_jobs()->CopyFrom(negative_steps.jobs(0));
  v1::SubmitSweepRequest oversized;
  oversized.set_sweep_text(std::string(2 << 20, '#'));
  v1::ListSweepsRequest negative_limit;
  negative_limit.set_limit(-1);
  v1::ListSweepsRequest bad_tag_filter;
  bad_tag_filter.add_tags("has space");
  v1::ListSweepsRequest bad_sweep_token;
  bad_sweep_token.set_page_token("garbage");
  v1::SubmitSweepRequest bad_submit_tag;
  bad_submit_tag.set_sweep_text(kSweep);
  bad_submit_tag.add_tags("a,b");
  v1::SubmitSweepRequest long_note;
  long_note.set_sweep_text(kSweep);
  long_note.set_note(std::string(5000, 'n'));
  v1::UpdateSweepRequest update_no_sweep;
  update_no_sweep.add_add_tags("x");
  v1::UpdateSweepRequest update_bad_tag;
  update_bad_tag.set_sweep_id("s-00000000");
  update_bad_tag.add_remove_tags("");
  v1::ListJobsRequest big_page;
  big_page.set_page_size(5000);
  v1::ListJobsRequest bad_page_token;
  bad_page_token.set_page_token("garbage");
  v1::QueryMetricsRequest negative_groups;
  negative_groups.set_job_id("x");
  negative_groups.set_groups(-2);
  v1::ListComponentsRequest unknown_kind;
  unknown_kind.set_kind("optimisers");
  v1::RegisterWorkerRequest no_worker_id;
  no_worker_id.set_slots(1);
  v1::RegisterWorkerRequest no_slots;
  no_slots.set_worker_id("w");
  no_slots.set_slots(0);
  v1::AcquireJobRequest negative_wait;
  negative_wait.set_worker_id("w");
  negative_wait.set_wait_ms(-1);
  v1::CompleteJobRequest no_outcome;
  no_outcome.set_job_id("j");
  no_outcome.set_lease_token("t");
  v1::LoadCheckpointRequest load_no_job;
  load_no_job.set_lease_token("t");
  v1::LoadCheckpointRequest negative_before;
  negative_before.set_job_id("j");
  negative_before.set_lease_token("t");
  negative_before.set_before_step(-5);
  v1::FailJobRequest fail_no_job;
  fail_no_job.set_lease_token("t");
  v1::LoadSourceModelRequest load_source_no_job;
  load_source_no_job.set_lease_token("t");
  v1::ReportRequest piece_past_end;
  piece_past_end.set_job_id("j");
  piece_past_end.set_lease_token("t");
  piece_past_end.mutable_kept_model_chunk()->set_total_bytes(10);
  piece_past_end.mutable_kept_model_chunk()->set_offset(5);
  piece_past_end.mutable_kept_model_chunk()->set_data(std::string(10, 'x'));

  using absl::StatusCode;
  const std::vector<Case> cases = {
      {"submit: text and jobs", "SubmitSweep", AsMessage(both), StatusCode::kInvalidArgument,
       "jobs"},
      {"submit: NaN lr", "SubmitSweep", AsMessage(nan_lr), StatusCode::kInvalidArgument,
       "jobs[0].optimizer.lr"},
      {"submit: seed above 2^53", "SubmitSweep", AsMessage(huge_seed), StatusCode::kInvalidArgument,
       "seed: 9007199254740993 is out of range"},
      {"submit: untyped value", "SubmitSweep", AsMessage(untyped), StatusCode::kInvalidArgument,
       "optimizer.lr"},
      {"submit: negative steps", "SubmitSweep", AsMessage(negative_steps),
       StatusCode::kInvalidArgument, "trainer.steps"},
      {"submit: huge class count", "SubmitSweep", AsMessage(huge_classes),
       StatusCode::kInvalidArgument, "classes"},
      {"submit: max_attempts", "SubmitSweep", AsMessage(attempts), StatusCode::kInvalidArgument,
       "max_attempts"},
      {"submit: too many jobs", "SubmitSweep", AsMessage(too_many), StatusCode::kResourceExhausted,
       "51"},
      {"submit: oversized text", "SubmitSweep", AsMessage(oversized),
       StatusCode::kResourceExhausted, "sweep_text"},
      {"list sweeps: limit", "ListSweeps", AsMessage(negative_limit), StatusCode::kInvalidArgument,
       "limit"},
      {"list sweeps: bad tag", "ListSweeps", AsMessage(bad_tag_filter),
       StatusCode::kInvalidArgument, "tags[0]: tag 'has space'"},
      {"list sweeps: bad page token", "ListSweeps", AsMessage(bad_sweep_token),
       StatusCode::kInvalidArgument, "'garbage'"},
      {"submit: bad tag", "SubmitSweep", AsMessage(bad_submit_tag), StatusCode::kInvalidArgument,
       "tags[0]: tag 'a,b'"},
      {"submit: note too long", "SubmitSweep", AsMessage(long_note), StatusCode::kInvalidArgument,
       "note has 5000 bytes"},
      {"update sweep: no id", "UpdateSweep", AsMessage(update_no_sweep),
       StatusCode::kInvalidArgument, "sweep_id"},
      {"update sweep: empty tag", "UpdateSweep", AsMessage(update_bad_tag),
       StatusCode::kInvalidArgument, "remove_tags[0]"},
      {"delete sweep: no id", "DeleteSweep", AsMessage(v1::DeleteSweepRequest()),
       StatusCode::kInvalidArgument, "sweep_id"},
      {"list jobs: page size", "ListJobs", AsMessage(big_page), StatusCode::kInvalidArgument,
       "page_size"},
      {"list jobs: bad page token", "ListJobs", AsMessage(bad_page_token),
       StatusCode::kInvalidArgument, "page"},
      {"cancel: no target", "Cancel", AsMessage(v1::CancelRequest()), StatusCode::kInvalidArgument,
       "target"},
      {"watch: no target", "Watch", AsMessage(v1::WatchRequest()), StatusCode::kInvalidArgument,
       "target"},
      {"query: group count", "QueryMetrics", AsMessage(negative_groups),
       StatusCode::kInvalidArgument, "groups"},
      {"list components: kind", "ListComponents", AsMessage(unknown_kind),
       StatusCode::kInvalidArgument, "optimisers"},
      {"register: no id", "RegisterWorker", AsMessage(no_worker_id), StatusCode::kInvalidArgument,
       "worker_id"},
      {"register: slots", "RegisterWorker", AsMessage(no_slots), StatusCode::kInvalidArgument,
       "slots"},
      {"acquire: negative wait", "AcquireJob", AsMessage(negative_wait),
       StatusCode::kInvalidArgument, "wait_ms"},
      {"report: empty payload", "Report", AsMessage(empty_report), StatusCode::kInvalidArgument,
       "payload"},
      {"report: no lease token", "Report", AsMessage(no_token), StatusCode::kInvalidArgument,
       "lease_token"},
      {"complete: no outcome", "CompleteJob", AsMessage(no_outcome), StatusCode::kInvalidArgument,
       "outcome"},
      {"report: diagnostic with a bad name", "Report", AsMessage(bad_diagnostic),
       StatusCode::kInvalidArgument, "diag.Attention"},
      {"report: checkpoint without data", "Report", AsMessage(empty_checkpoint),
       StatusCode::kInvalidArgument, "checkpoint"},
      {"load checkpoint: no job", "LoadCheckpoint", AsMessage(load_no_job),
       StatusCode::kInvalidArgument, "job_id"},
      {"load checkpoint: negative before_step", "LoadCheckpoint", AsMessage(negative_before),
       StatusCode::kInvalidArgument, "before_step"},
      {"fail: no job", "FailJob", AsMessage(fail_no_job), StatusCode::kInvalidArgument, "job_id"},
      {"load source model: no job", "LoadSourceModel", AsMessage(load_source_no_job),
       StatusCode::kInvalidArgument, "job_id"},
      {"download kept model: no job", "DownloadKeptModel",
       AsMessage(v1::DownloadKeptModelRequest()), StatusCode::kInvalidArgument, "job_id"},
      {"report: kept model piece past its end", "Report", AsMessage(piece_past_end),
       StatusCode::kInvalidArgument, "within the model's 10"},
  };
  const std::vector<Rpc> rpcs = AllRpcs(client_.get(), workers_.get());
  std::set<std::string> covered;
  for (const Case& c : cases) {
    const Rpc& rpc = FindRpc(rpcs, c.rpc);
    ASSERT_EQ(c.request->GetDescriptor(), rpc.sample->GetDescriptor()) << c.what;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    EXPECT_THAT(rpc.call(&context, *c.request), StatusIs(c.code, HasSubstr(c.needle))) << c.what;
    covered.insert(c.rpc);
  }
  // The RPCs whose every request is valid (an unknown id is NotFound, not bad input).
  const std::set<std::string> no_input_to_check = {"GetSweep", "GetJob", "GetStatus"};
  for (const Rpc& rpc : rpcs) {
    EXPECT_NE(covered.count(rpc.name) + no_input_to_check.count(rpc.name), 0u)
        << rpc.name << " has no bad-input case";
  }
  // Nothing was half-created.
  EXPECT_THAT(store_->ListSweeps(10), IsOkAndHolds(IsEmpty()));
}

// The table covers every method of both services, each once, with a sample of its request type.
TEST(RpcTableTest, CoversEveryRpcOfBothServices) {
  const std::vector<Rpc> rpcs = AllRpcs(nullptr, nullptr);
  std::set<std::string> names;
  for (const char* service : {"optbench.v1.Coordinator", "optbench.v1.WorkerService"}) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(descriptor, nullptr) << service;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = descriptor->method(i);
      names.insert(method->name());
      auto row = std::find_if(rpcs.begin(), rpcs.end(),
                              [method](const Rpc& rpc) { return rpc.name == method->name(); });
      if (row == rpcs.end()) {
        ADD_FAILURE() << method->full_name()
                      << " is not in the RPC table (tests/server/rpc_table.h)";
        continue;
      }
      EXPECT_EQ(row->sample->GetDescriptor(), method->input_type()) << method->full_name();
    }
  }
  EXPECT_EQ(names.size(), rpcs.size()) << "rows that are no RPC, or twice the same RPC";
}

TEST(WorkerServiceTest, FailJobFlagsMapToAnAttemptOutcome) {
  struct Case {
    bool release;
    bool permanent;
    AttemptOutcome outcome;
  };
  const Case cases[] = {
      {false, false, AttemptOutcome::kRetry},
      {false, true, AttemptOutcome::kPermanent},
      {true, false, AttemptOutcome::kPreempted},
      {true, true, AttemptOutcome::kPreempted},  // The worker is stopping: a hand-back.
  };
  for (const Case& c : cases) {
    v1::FailJobRequest request;
    request.set_release(c.release);
    request.set_permanent(c.permanent);
    EXPECT_EQ(AttemptOutcomeFromWire(request), c.outcome)
        << "release " << c.release << ", permanent " << c.permanent;
  }
}

TEST_F(ServicesTest, FailJobEndsTheAttemptAsTheWorkerSays) {
  Submit(kSweep);
  auto fail = [this](const v1::AcquireJobResponse& leased, bool release, bool permanent) {
    return Fail(leased, "bad.csv:3: not a number", release, permanent);
  };
  // A hand-back wins over `permanent`: requeued, the attempt not counted.
  const v1::AcquireJobResponse first = Acquire();
  ASSERT_OK(fail(first, /*release=*/true, /*permanent=*/true));
  EXPECT_EQ(GetJob(first.job().id()).state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(GetJob(first.job().id()).attempt(), 0);
  // Permanent: FAILED at once, with attempts left.
  const v1::AcquireJobResponse again = Acquire();
  ASSERT_EQ(again.job().id(), first.job().id());
  ASSERT_OK(fail(again, false, /*permanent=*/true));
  const v1::Job failed = GetJob(first.job().id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.attempt(), 1);
  EXPECT_EQ(failed.error(), "bad.csv:3: not a number");
  // Neither: a retry while attempts remain.
  const v1::AcquireJobResponse second = Acquire();
  ASSERT_OK(fail(second, false, false));
  EXPECT_EQ(GetJob(second.job().id()).state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(GetJob(second.job().id()).attempt(), 1);
  // The lease is gone with the attempt.
  EXPECT_THAT(fail(second, false, false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stale lease")));
}

TEST_F(ServicesTest, UnknownIdsAreNotFound) {
  grpc::ClientContext c1;
  v1::GetJobRequest jr;
  jr.set_job_id("s-nope-0");
  v1::Job job;
  EXPECT_EQ(client_->GetJob(&c1, jr, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext c2;
  v1::CancelRequest cr;
  cr.set_sweep_id("s-nope");
  v1::CancelResponse cresp;
  EXPECT_EQ(client_->Cancel(&c2, cr, &cresp).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext c3;
  v1::QueryMetricsRequest q;
  q.set_sweep_id("s-nope");
  v1::QueryMetricsResponse qr;
  EXPECT_EQ(client_->QueryMetrics(&c3, q, &qr).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServicesTest, ListComponentsCoversTheCatalog) {
  grpc::ClientContext context;
  v1::ListComponentsRequest request;
  request.set_kind("optimizer");
  v1::ListComponentsResponse response;
  ASSERT_TRUE(client_->ListComponents(&context, request, &response).ok());
  std::vector<std::string> names;
  for (const auto& c : response.components()) names.push_back(c.name());
  for (const char* want : {"adam", "gd", "normalized_gd", "sign_descent"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  grpc::ClientContext bad;
  request.set_kind("optimiser");
  EXPECT_EQ(client_->ListComponents(&bad, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Every RPC with authentication on: no token is UNAUTHENTICATED, a token without the RPC's role
// is PERMISSION_DENIED, the right role gets past authentication.
class AuthServicesTest : public ServicesFixture {
 protected:
  void SetUp() override {
    auto auth = Authenticator::Parse(
        "worker-token-0000000 worker w\nsubmit-token-0000000 submit s\n"
        "read-token-000000000 read r\n",
        "tokens");
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = std::make_unique<Authenticator>(*std::move(auth));
    ServicesFixture::SetUp();
  }
  const Authenticator* authenticator() const override { return auth_.get(); }

  // Calls `rpc` with its sample request and `token` (empty = none).
  absl::Status Call(const Rpc& rpc, const std::string& token) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) c.AddMetadata("authorization", "Bearer " + token);
    return rpc.call(&c, *rpc.sample);
  }

  std::unique_ptr<Authenticator> auth_;
};

TEST_F(AuthServicesTest, EveryRpcChecksTokenAndRole) {
  const std::map<Role, std::string> token = {{Role::kWorker, "worker-token-0000000"},
                                             {Role::kSubmit, "submit-token-0000000"},
                                             {Role::kRead, "read-token-000000000"}};
  // A token of another role: never enough (a submitter cannot read, a reader cannot work...).
  const std::map<Role, Role> wrong = {
      {Role::kSubmit, Role::kRead}, {Role::kRead, Role::kWorker}, {Role::kWorker, Role::kSubmit}};
  const std::vector<Rpc> rpcs = AllRpcs(client_.get(), workers_.get());
  ASSERT_EQ(rpcs.size(), 20u);
  for (const Rpc& rpc : rpcs) {
    EXPECT_THAT(Call(rpc, ""), StatusIs(absl::StatusCode::kUnauthenticated)) << rpc.name;
    EXPECT_THAT(Call(rpc, "not-a-valid-token-at-all"), StatusIs(absl::StatusCode::kUnauthenticated))
        << rpc.name;
    EXPECT_THAT(Call(rpc, token.at(wrong.at(rpc.role))),
                StatusIs(absl::StatusCode::kPermissionDenied))
        << rpc.name;
    EXPECT_THAT(Call(rpc, token.at(rpc.role)),
                StatusIs(::testing::AllOf(::testing::Ne(absl::StatusCode::kUnauthenticated),
                                          ::testing::Ne(absl::StatusCode::kPermissionDenied))))
        << rpc.name;
  }
  // Nothing was created by the refused submissions; the accepted one created one sweep.
  EXPECT_THAT(store_->ListSweeps(10), IsOkAndHolds(::testing::SizeIs(1)));
}

}  // namespace
}  // namespace optbench::server
