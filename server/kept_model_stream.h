// Reading a stored kept model piece by piece, as the store holds it, so that nobody on the
// coordinator's side holds a whole model. Shared by WorkerService::LoadSourceModel (a quantize
// job's source), CoordinatorService::DownloadKeptModel and `optbench export --db`.
#ifndef OPTBENCH_SERVER_KEPT_MODEL_STREAM_H_
#define OPTBENCH_SERVER_KEPT_MODEL_STREAM_H_

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/sync_stream.h"
#include "optbench/v1/types.pb.h"
#include "server/scheduler.h"
#include "storage/store.h"

namespace optbench::server {

// OK when `job` has a kept model; else NotFound naming the job, its state and how a job keeps one.
absl::Status CheckHasKeptModel(const storage::JobRecord& job);

// Calls `visit` with each piece of a kept model, in order from offset 0, as `read` (a store's or
// the scheduler's ReadKeptModelChunk for one job) returns them. Stops at the first error of
// either, with `what` in front of a read error's message ("source: job j has no kept model").
absl::Status ForEachKeptModelPiece(
    absl::FunctionRef<absl::StatusOr<storage::KeptModelChunk>(int64_t offset)> read,
    absl::string_view what, absl::FunctionRef<absl::Status(v1::KeptModelChunk)> visit);

// Writes every piece of `job_id`'s kept model to `writer`, in order; CANCELLED when the client
// goes away. The job must be finished (its model cannot change under the reads; the reader
// checks the checksum anyway).
grpc::Status StreamKeptModel(Scheduler& scheduler, const std::string& job_id,
                             absl::string_view what, grpc::ServerContext* context,
                             grpc::ServerWriter<v1::KeptModelChunk>* writer);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_KEPT_MODEL_STREAM_H_
