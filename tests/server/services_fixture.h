// ServicesFixture: the coordinator's two gRPC services over an in-process channel, on a fresh
// in-memory store with a fake clock: the base of the service tests.
#ifndef OPTBENCH_TESTS_SERVER_SERVICES_FIXTURE_H_
#define OPTBENCH_TESTS_SERVER_SERVICES_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "optbench/v1/worker.grpc.pb.h"
#include "server/auth.h"
#include "server/coordinator_service.h"
#include "server/scheduler.h"
#include "server/worker_service.h"
#include "spec/catalog.h"
#include "storage/sqlite_store.h"
#include "worker/engine/catalog.h"

namespace optbench::server {

// Not thread-safe: one test thread drives it. Acquires wait at most 100 ms; sweeps hold at most
// 50 jobs.
class ServicesFixture : public ::testing::Test {
 protected:
  // The catalog the services validate with: the engine's, as the coordinator binary's.
  virtual const spec::Catalog& catalog() const { return engine::Catalog(); }
  // Who may call: null = anyone (no authentication).
  virtual const Authenticator* authenticator() const { return nullptr; }

  void SetUp() override {
    auto store = storage::SqliteStore::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    SchedulerOptions options;
    options.max_acquire_wait = absl::Milliseconds(100);
    scheduler_ = std::make_unique<Scheduler>(store_.get(), &clock_, options);
    SubmitLimits limits;
    limits.max_jobs_per_sweep = 50;
    coordinator_ =
        std::make_unique<CoordinatorService>(scheduler_.get(), &catalog(), limits, authenticator());
    worker_ = std::make_unique<WorkerService>(scheduler_.get(), &catalog(), authenticator());
    grpc::ServerBuilder builder;
    builder.RegisterService(coordinator_.get());
    builder.RegisterService(worker_.get());
    server_ = builder.BuildAndStart();
    auto channel = server_->InProcessChannel(grpc::ChannelArguments());
    client_ = v1::Coordinator::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }

  void TearDown() override {
    coordinator_->BeginShutdown();
    server_->Shutdown();
  }

  // The oldest queued job, leased to worker "w1"; no job when none came.
  v1::AcquireJobResponse Acquire() {
    grpc::ClientContext context;
    v1::AcquireJobRequest request;
    request.set_worker_id("w1");
    v1::AcquireJobResponse response;
    EXPECT_TRUE(workers_->AcquireJob(&context, request, &response).ok());
    return response;
  }

  // The job as GetJob answers (unauthenticated).
  v1::Job GetJob(const std::string& id) {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::Job job;
    EXPECT_TRUE(client_->GetJob(&context, request, &job).ok());
    return job;
  }

  // Ends `leased`'s attempt by FailJob with `error`: a hand-back (`release`), a failure for good
  // (`permanent`) or one to retry. The call's status.
  absl::Status Fail(const v1::AcquireJobResponse& leased, const std::string& error, bool release,
                    bool permanent) {
    grpc::ClientContext context;
    v1::FailJobRequest request;
    request.set_job_id(leased.job().id());
    request.set_lease_token(leased.lease_token());
    request.set_error(error);
    request.set_release(release);
    request.set_permanent(permanent);
    v1::FailJobResponse response;
    return FromGrpcStatus(workers_->FailJob(&context, request, &response));
  }

  // Report seq 1 of `leased`'s job: a data set of four classes with train counts 4, 2, 1, 1.
  static v1::ReportRequest FourClassDatasetInfo(const v1::AcquireJobResponse& leased) {
    v1::ReportRequest info;
    info.set_job_id(leased.job().id());
    info.set_lease_token(leased.lease_token());
    info.set_seq(1);
    v1::DatasetInfo* d = info.mutable_dataset_info();
    d->set_num_classes(4);
    for (int64_t n : {4, 2, 1, 1}) d->add_train_class_counts(n);
    return info;
  }

  // An evaluation of `leased`'s job at `step` as a worker reports it: a 4-class DatasetInfo,
  // then a loss_sum row, on a Report stream. The stream's status.
  absl::Status ReportEvaluation(const v1::AcquireJobResponse& leased, int64_t step) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = workers_->Report(&context);
    v1::ReportRequest info = FourClassDatasetInfo(leased);
    v1::ReportRequest eval;
    eval.set_job_id(leased.job().id());
    eval.set_lease_token(leased.lease_token());
    eval.set_seq(2);
    eval.mutable_metrics()->set_step(step);
    v1::MetricValue* loss = eval.mutable_metrics()->add_values();
    loss->set_metric("loss_sum");
    loss->set_split(v1::SPLIT_TRAIN);
    for (double x : {1.0, 2.0, 3.0, 4.0}) loss->add_values(x);
    // One at a time: an in-process stream's Write waits for the other side to read.
    v1::ReportResponse ack;
    for (const v1::ReportRequest* r : {&info, &eval}) {
      if (!stream->Write(*r) || !stream->Read(&ack)) break;
    }
    stream->WritesDone();
    return FromGrpcStatus(stream->Finish());
  }

  // Ends `leased`'s attempt as a worker whose run succeeded: its final evaluation at `step`
  // (ReportEvaluation), then CompleteJob with steps_done `step`. The first failure's status.
  absl::Status Succeed(const v1::AcquireJobResponse& leased, int64_t step = 0) {
    if (absl::Status s = ReportEvaluation(leased, step); !s.ok()) return s;
    return Complete(leased, v1::OUTCOME_SUCCEEDED, step);
  }

  // CompleteJob for `leased` with `outcome` after `steps` steps; the call's status.
  absl::Status Complete(const v1::AcquireJobResponse& leased, v1::Outcome outcome, int64_t steps) {
    grpc::ClientContext context;
    v1::CompleteJobRequest done;
    done.set_job_id(leased.job().id());
    done.set_lease_token(leased.lease_token());
    done.set_outcome(outcome);
    done.set_steps_done(steps);
    v1::CompleteJobResponse response;
    return FromGrpcStatus(workers_->CompleteJob(&context, done, &response));
  }

  FakeClock clock_;
  std::unique_ptr<storage::SqliteStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<CoordinatorService> coordinator_;
  std::unique_ptr<WorkerService> worker_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Coordinator::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

}  // namespace optbench::server

#endif  // OPTBENCH_TESTS_SERVER_SERVICES_FIXTURE_H_
