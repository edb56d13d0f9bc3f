#include "server/kept_model_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace optbench::server {

absl::Status CheckHasKeptModel(const storage::JobRecord& job) {
  if (job.kept_model.has_value()) return absl::OkStatus();
  return absl::NotFoundError(absl::StrCat(
      "job ", job.id, " has no kept model (it is ", storage::JobStateName(job.state),
      "; a train job keeps one with trainer.keep_model: true, a quantize job when it succeeds)"));
}

absl::Status ForEachKeptModelPiece(
    absl::FunctionRef<absl::StatusOr<storage::KeptModelChunk>(int64_t offset)> read,
    absl::string_view what, absl::FunctionRef<absl::Status(v1::KeptModelChunk)> visit) {
  int64_t offset = 0;
  int64_t total = 1;
  while (offset < total) {
    absl::StatusOr<storage::KeptModelChunk> piece = read(offset);
    if (!piece.ok()) {
      return absl::Status(piece.status().code(),
                          absl::StrCat(what, ": ", piece.status().message()));
    }
    total = piece->total_bytes;
    v1::KeptModelChunk out;
    out.set_total_bytes(piece->total_bytes);
    out.set_offset(piece->offset);
    out.set_checksum(piece->checksum);
    offset += static_cast<int64_t>(piece->data.size());
    if (piece->data.empty() && offset < total) {
      return absl::DataLossError(
          absl::StrCat(what, ": an empty piece at byte ", offset, " of ", total));
    }
    *out.mutable_data() = std::move(piece->data);
    if (absl::Status s = visit(std::move(out)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

grpc::Status StreamKeptModel(Scheduler& scheduler, const std::string& job_id,
                             absl::string_view what, grpc::ServerContext* context,
                             grpc::ServerWriter<v1::KeptModelChunk>* writer) {
  bool gone = false;
  const absl::Status s = ForEachKeptModelPiece(
      [&](int64_t offset) -> absl::StatusOr<storage::KeptModelChunk> {
        if (context->IsCancelled()) return absl::CancelledError("cancelled");
        return scheduler.ReadKeptModelChunk(job_id, offset);
      },
      what,
      [&](v1::KeptModelChunk piece) {
        if (writer->Write(piece)) return absl::OkStatus();
        gone = true;
        return absl::CancelledError("reader went away");
      });
  if (gone) return grpc::Status(grpc::StatusCode::CANCELLED, "reader went away");
  return ToGrpcStatus(s);
}

}  // namespace optbench::server
