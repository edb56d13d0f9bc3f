// CoordinatorService: the client-facing gRPC API. Translates requests, delegates to the
// Scheduler (for reads too) and the query logic, and maps statuses. Thread-safe (gRPC calls it from
// many threads; all state lives in the scheduler and store).
#ifndef OPTBENCH_SERVER_COORDINATOR_SERVICE_H_
#define OPTBENCH_SERVER_COORDINATOR_SERVICE_H_

#include <atomic>

#include "optbench/v1/coordinator.grpc.pb.h"
#include "server/auth.h"
#include "server/scheduler.h"
#include "spec/catalog.h"

namespace optbench::server {

struct SubmitLimits {
  int64_t max_jobs_per_sweep = 10000;
  int64_t max_sweep_bytes = 1 << 20;  // Sweep file text.
};

// Validates and expands a submission into NewJobs + the expanded v1::Jobs (for the response and
// dry runs). With `store`, the sources of jobs that work on another job's kept model are
// resolved against it (server/source_resolution.h: each becomes one job per source job); without
// one (a check before a coordinator is at hand) they stay as written. Pure logic; exposed for
// tests and the CLI.
struct ExpandedSubmission {
  std::string name;
  // The sweep file's tags with the request's added (each once, file order first), and its note
  // or the request's.
  storage::SweepAnnotations annotations;
  std::vector<storage::NewJob> new_jobs;
  std::vector<v1::Job> jobs;
};
absl::StatusOr<ExpandedSubmission> ExpandSubmission(const v1::SubmitSweepRequest& request,
                                                    const spec::Catalog& catalog,
                                                    const SubmitLimits& limits,
                                                    storage::StoreReader* store = nullptr);

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // Does not own `scheduler`, `catalog` or `auth`. `catalog` validates submissions and declares
  // the metrics of jobs whose run declared none. `auth` null = no authentication (loopback use);
  // else SubmitSweep, UpdateSweep, DeleteSweep and Cancel need the submit role and every other
  // call the read role.
  CoordinatorService(Scheduler* scheduler, const spec::Catalog* catalog, SubmitLimits limits,
                     const Authenticator* auth = nullptr);

  // Makes running Watch streams return promptly (server shutdown).
  void BeginShutdown() { shutting_down_ = true; }

  grpc::Status SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                           v1::SubmitSweepResponse* response) override;
  grpc::Status GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                        v1::Sweep* response) override;
  grpc::Status ListSweeps(grpc::ServerContext* context, const v1::ListSweepsRequest* request,
                          v1::ListSweepsResponse* response) override;
  grpc::Status UpdateSweep(grpc::ServerContext* context, const v1::UpdateSweepRequest* request,
                           v1::Sweep* response) override;
  grpc::Status DeleteSweep(grpc::ServerContext* context, const v1::DeleteSweepRequest* request,
                           v1::DeleteSweepResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status DownloadKeptModel(grpc::ServerContext* context,
                                 const v1::DownloadKeptModelRequest* request,
                                 grpc::ServerWriter<v1::KeptModelChunk>* writer) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelRequest* request,
                      v1::CancelResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::WatchEvent>* writer) override;
  grpc::Status QueryMetrics(grpc::ServerContext* context, const v1::QueryMetricsRequest* request,
                            v1::QueryMetricsResponse* response) override;
  grpc::Status ListComponents(grpc::ServerContext* context,
                              const v1::ListComponentsRequest* request,
                              v1::ListComponentsResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  grpc::Status Authorize(const grpc::ServerContext* context, Role role) const;

  Scheduler* const scheduler_;
  const spec::Catalog* const catalog_;
  const Authenticator* const auth_;
  const SubmitLimits limits_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_COORDINATOR_SERVICE_H_
