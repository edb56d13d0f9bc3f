#include "worker/kept_model_pieces.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/fnv1a.h"

namespace optbench::worker {

std::vector<int64_t> PieceOffsets(int64_t size, int64_t piece_bytes) {
  OPTBENCH_CHECK(piece_bytes >= 1);
  std::vector<int64_t> offsets;
  for (int64_t offset = 0; offset < size; offset += piece_bytes) offsets.push_back(offset);
  return offsets;
}

v1::KeptModelChunk PieceOf(std::string_view model, uint64_t checksum, int64_t offset,
                           int64_t piece_bytes) {
  v1::KeptModelChunk piece;
  piece.set_total_bytes(static_cast<int64_t>(model.size()));
  piece.set_offset(offset);
  piece.set_checksum(checksum);
  const std::string_view data =
      model.substr(static_cast<size_t>(offset), static_cast<size_t>(piece_bytes));
  piece.set_data(data.data(), data.size());
  return piece;
}

absl::Status ModelAssembler::Add(const v1::KeptModelChunk& piece) {
  const int64_t have = static_cast<int64_t>(bytes_.size());
  if (total_bytes_ < 0) {
    if (piece.total_bytes() < 1) {
      return absl::DataLossError(
          absl::StrCat("kept model: the first piece says it has ", piece.total_bytes(), " bytes"));
    }
    total_bytes_ = piece.total_bytes();
    checksum_ = piece.checksum();
    // Reserved up to what the pieces claim, but never more than they could bring in one go:
    // a corrupt total must not allocate gigabytes.
    bytes_.reserve(static_cast<size_t>(std::min<int64_t>(total_bytes_, 64 << 20)));
  }
  if (piece.total_bytes() != total_bytes_ || piece.checksum() != checksum_) {
    return absl::DataLossError(absl::StrFormat(
        "kept model: a piece of a model of %d bytes with checksum %016x among pieces of one of "
        "%d bytes with checksum %016x",
        piece.total_bytes(), piece.checksum(), total_bytes_, checksum_));
  }
  if (piece.offset() != have || static_cast<int64_t>(piece.data().size()) > total_bytes_ - have) {
    return absl::DataLossError(
        absl::StrFormat("kept model: a piece of %d bytes at offset %d after bytes [0, %d) of %d",
                        piece.data().size(), piece.offset(), have, total_bytes_));
  }
  bytes_ += piece.data();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ModelAssembler::Finish() && {
  const int64_t have = static_cast<int64_t>(bytes_.size());
  if (total_bytes_ < 0) return absl::DataLossError("kept model: no piece came");
  if (have != total_bytes_) {
    return absl::DataLossError(
        absl::StrCat("kept model: ", have, " of ", total_bytes_, " bytes came (pieces missing)"));
  }
  Fnv1a64Hash hash;
  hash.Update(bytes_);
  if (hash.value() != checksum_) {
    return absl::DataLossError(
        absl::StrFormat("kept model: checksum mismatch (sent %016x, computed %016x over %d "
                        "bytes): corrupted on the way",
                        checksum_, hash.value(), have));
  }
  return std::move(bytes_);
}

}  // namespace optbench::worker
