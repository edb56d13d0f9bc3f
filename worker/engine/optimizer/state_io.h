// Byte serialization of OptimizerState (optimizer.h) for checkpoints: SaveOptimizerState writes a
// versioned, little-endian, checksummed blob; LoadOptimizerState reads it back exactly (every
// tensor bit for bit), so a run restored into a fresh optimizer continues bit-identically.
//
// Format, version 1 (all integers little-endian; fixed layout, readable without Eigen):
//   "OBOS" | u32 version = 1 | u32 scalar bytes (4 = float32, 8 = float64) | i64 step |
//   u32 slot count | per slot, in id order: u32 id length, id bytes, u32 tensor count, per tensor
//   in name order: u32 name length, name bytes, u64 rows, u64 cols, rows * cols IEEE-754 values
//   in row-major order |
//   u64 checksum: FNV-1a 64 over every byte before it (any change of one byte is detected; the
//   envelope of byte_io.h).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_STATE_IO_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_STATE_IO_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/engine/optimizer/optimizer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The bytes of `state`, tagged with this engine's precision. Never fails.
std::string SaveOptimizerState(const OptimizerState& state);

// Parses bytes written by SaveOptimizerState. Errors: DataLoss naming the problem for anything
// malformed (bad magic, truncated, checksum mismatch, impossible sizes, trailing bytes);
// FailedPrecondition for a well-formed blob of another version or precision (a float32 state
// cannot resume a float64 run bit-identically). Never crashes on any input, and never allocates
// more than the input's size implies.
absl::StatusOr<OptimizerState> LoadOptimizerState(std::string_view bytes);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_STATE_IO_H_
