#include "worker/kept_model_pieces.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "worker/engine/byte_io.h"

namespace optbench::worker {
namespace {

std::string Model(size_t n) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return bytes;
}

std::vector<v1::KeptModelChunk> Cut(const std::string& model, int64_t piece_bytes) {
  std::vector<v1::KeptModelChunk> pieces;
  const uint64_t checksum = engine::Fnv1a64(model);
  for (int64_t offset : PieceOffsets(static_cast<int64_t>(model.size()), piece_bytes)) {
    pieces.push_back(PieceOf(model, checksum, offset, piece_bytes));
  }
  return pieces;
}

absl::StatusOr<std::string> Assemble(const std::vector<v1::KeptModelChunk>& pieces) {
  ModelAssembler assembler;
  for (const v1::KeptModelChunk& piece : pieces) {
    if (absl::Status s = assembler.Add(piece); !s.ok()) return s;
  }
  return std::move(assembler).Finish();
}

TEST(KeptModelPiecesTest, PiecesCoverTheModelAndAssembleToTheSameBytes) {
  const std::string model = Model(1000);
  for (int64_t piece_bytes : {1, 7, 999, 1000, 4096}) {
    const std::vector<v1::KeptModelChunk> pieces = Cut(model, piece_bytes);
    EXPECT_EQ(static_cast<int64_t>(pieces.size()), (1000 + piece_bytes - 1) / piece_bytes);
    for (const v1::KeptModelChunk& piece : pieces) {
      EXPECT_LE(static_cast<int64_t>(piece.data().size()), piece_bytes);
      EXPECT_EQ(piece.total_bytes(), 1000);
    }
    absl::StatusOr<std::string> back = Assemble(pieces);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, model) << piece_bytes;
  }
}

TEST(KeptModelPiecesTest, WhatDoesNotMakeTheModelIsDataLoss) {
  const std::vector<v1::KeptModelChunk> pieces = Cut(Model(100), 30);
  ASSERT_EQ(pieces.size(), 4u);
  auto expect_data_loss = [](const std::vector<v1::KeptModelChunk>& given, const char* what) {
    absl::StatusOr<std::string> back = Assemble(given);
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << what << ": " << back.status();
  };
  expect_data_loss({}, "no pieces");
  expect_data_loss({pieces[0], pieces[1], pieces[2]}, "the last piece missing");
  expect_data_loss({pieces[0], pieces[2], pieces[1], pieces[3]}, "out of order");
  std::vector<v1::KeptModelChunk> flipped = pieces;
  (*flipped[2].mutable_data())[3] ^= 0x01;
  expect_data_loss(flipped, "a flipped bit");
  std::vector<v1::KeptModelChunk> other = pieces;
  other[1].set_checksum(other[1].checksum() + 1);
  expect_data_loss(other, "a piece of another model");
  std::vector<v1::KeptModelChunk> longer = pieces;
  longer[3].mutable_data()->append("x");
  expect_data_loss(longer, "bytes past the end");
}

}  // namespace
}  // namespace optbench::worker
