// WorkerService: the worker-facing gRPC API (register, acquire with a lease, report stream with
// metrics, checkpoints and kept models, complete/fail, checkpoints and source models back).
// Translates and delegates to the Scheduler. Thread-safe.
#ifndef OPTBENCH_SERVER_WORKER_SERVICE_H_
#define OPTBENCH_SERVER_WORKER_SERVICE_H_

#include <atomic>
#include <vector>

#include "optbench/v1/worker.grpc.pb.h"
#include "server/auth.h"
#include "server/job_lifecycle.h"
#include "server/scheduler.h"
#include "spec/catalog.h"
#include "spec/metric.h"

namespace optbench::server {

// Converts one reported batch into storage rows, validating each value against the job's
// declared metrics (`declared`): a declared name, a split it is recorded for, and its shape (one
// value, num_classes values once known, one per item). InvalidArgument naming the bad field and
// what the job declares. Exposed for tests.
absl::StatusOr<std::vector<storage::MetricRow>> MetricRowsFromBatch(
    const std::string& job_id, const v1::MetricBatch& batch,
    const std::vector<spec::MetricSpec>& declared, int64_t num_classes);

// The outcome a FailJob request asks for: `release` (a hand-back) is kPreempted, whatever
// `permanent` says; else `permanent` is kPermanent; else kRetry.
AttemptOutcome AttemptOutcomeFromWire(const v1::FailJobRequest& request);

// OK when `job_id` has metrics stored at `step` (the last step it ran): what CompleteJob needs
// before a job may succeed. FailedPrecondition naming the job and step otherwise.
absl::Status CheckFinalMetrics(Scheduler& scheduler, const std::string& job_id, int64_t step);

class WorkerService final : public v1::WorkerService::Service {
 public:
  // Does not own `scheduler`, `catalog` or `auth`. `catalog` gives the metrics of jobs whose
  // worker declares none. `auth` null = no authentication; else every call needs the worker role.
  WorkerService(Scheduler* scheduler, const spec::Catalog* catalog,
                const Authenticator* auth = nullptr);

  // Makes long polls return promptly (server shutdown).
  void BeginShutdown() { shutting_down_ = true; }
  // A draining coordinator leases nothing: AcquireJob waits out its long poll (or until shutdown)
  // and answers without a job. Every other call is served as before.
  void BeginDrain() { draining_ = true; }

  grpc::Status RegisterWorker(grpc::ServerContext* context,
                              const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override;
  grpc::Status AcquireJob(grpc::ServerContext* context, const v1::AcquireJobRequest* request,
                          v1::AcquireJobResponse* response) override;
  grpc::Status Report(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ReportResponse, v1::ReportRequest>* stream) override;
  grpc::Status CompleteJob(grpc::ServerContext* context, const v1::CompleteJobRequest* request,
                           v1::CompleteJobResponse* response) override;
  grpc::Status FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                       v1::FailJobResponse* response) override;
  grpc::Status LoadCheckpoint(grpc::ServerContext* context,
                              const v1::LoadCheckpointRequest* request,
                              v1::LoadCheckpointResponse* response) override;
  grpc::Status LoadSourceModel(grpc::ServerContext* context,
                               const v1::LoadSourceModelRequest* request,
                               grpc::ServerWriter<v1::KeptModelChunk>* writer) override;

 private:
  grpc::Status Authorize(const grpc::ServerContext* context) const;

  Scheduler* const scheduler_;
  const spec::Catalog* const catalog_;
  const Authenticator* const auth_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> draining_{false};
};

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_WORKER_SERVICE_H_
