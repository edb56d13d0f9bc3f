// Kept models on the wire (types.proto KeptModelChunk): a model cut into pieces that each fit a
// gRPC message, and pieces put back together with the model's size and checksum checked. Shared
// by the upload (ReportingSink::OnKeptModel) and the download (LoadSourceModel) of the worker.
#ifndef OPTBENCH_WORKER_KEPT_MODEL_PIECES_H_
#define OPTBENCH_WORKER_KEPT_MODEL_PIECES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optbench/v1/types.pb.h"

namespace optbench::worker {

// The offsets of the pieces of a model of `size` bytes cut every `piece_bytes` (>= 1).
std::vector<int64_t> PieceOffsets(int64_t size, int64_t piece_bytes);

// The piece of `model` (whose FNV-1a 64 is `checksum`) from `offset` to the next cut.
v1::KeptModelChunk PieceOf(std::string_view model, uint64_t checksum, int64_t offset,
                           int64_t piece_bytes);

// Puts a model back together from its pieces, given in order. Not thread-safe.
//
//   ModelAssembler assembler;
//   while (reader->Read(&piece)) OPTBENCH_RETURN_IF_ERROR(assembler.Add(piece));
//   absl::StatusOr<std::string> model = std::move(assembler).Finish();
class ModelAssembler {
 public:
  // Appends the next piece. DataLoss naming the problem for a piece that does not continue the
  // model: at another offset than the bytes so far, of another total or checksum, or past the
  // end.
  absl::Status Add(const v1::KeptModelChunk& piece);
  // The model. DataLoss when pieces are missing (naming how many bytes came of how many) or the
  // bytes do not match the checksum.
  absl::StatusOr<std::string> Finish() &&;

 private:
  std::string bytes_;
  int64_t total_bytes_ = -1;  // -1 until the first piece.
  uint64_t checksum_ = 0;
};

}  // namespace optbench::worker

#endif  // OPTBENCH_WORKER_KEPT_MODEL_PIECES_H_
