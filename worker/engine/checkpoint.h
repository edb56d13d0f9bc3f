// Training checkpoints (issue 5): everything a run needs to continue bit-identically from step t
// in another process — the model's parameters, the optimizer's state and the wall time spent so
// far. The mini-batch sampler needs no bytes: its order is a pure function of (seed, batches
// drawn), so the trainer replays it (Trainer::Resume); the schedule is a function of the step.
//
// Format, version 1 (little-endian):
//   "OBCK" | u32 version = 1 | i64 step | f64 wall_seconds |
//   u64 n, n bytes: the parameters as a state_io blob (slot id -> {"value": tensor}, step = t) |
//   u64 m, m bytes: the optimizer's state_io blob |
//   u64 k, k bytes: the trainer's own state (Trainer::SaveState) as a state_io blob |
//   u64 checksum: FNV-1a 64 over every byte before it.
// Both inner blobs carry their own checksum and precision tag (state_io.h), so a float32
// checkpoint never silently resumes a float64 run.
#ifndef OPTBENCH_WORKER_ENGINE_CHECKPOINT_H_
#define OPTBENCH_WORKER_ENGINE_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model/model.h"
#include "worker/engine/optimizer/optimizer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// The bytes of a checkpoint after `step` optimizer steps. Never fails.
std::string SaveCheckpoint(int64_t step, double wall_seconds, const std::vector<ParamSlot>& params,
                           const OptimizerState& optimizer, const OptimizerState& trainer);

// A checkpoint read back and checked against a model, not yet applied.
struct ParsedCheckpoint {
  int64_t step = 0;
  double wall_seconds = 0;
  std::vector<Matrix> values;  // One per parameter slot, in the model's Params() order.
  OptimizerState optimizer;
  OptimizerState trainer;  // For Trainer::Resume.
};

// Verifies `bytes` completely against the model's `params` (ids and shapes; the values are not
// touched). Errors: DataLoss for corrupt or truncated bytes (checksum mismatch, bad magic,
// malformed parts), naming the problem; FailedPrecondition for a well-formed checkpoint that
// does not fit — another version or precision, a model whose parameters differ (named), or an
// optimizer state for other slots or steps, or with a tensor whose dimensions are not the
// slot's rows, columns or 1 (what an optimizer's state tensors are built from).
absl::StatusOr<ParsedCheckpoint> ParseCheckpoint(std::string_view bytes,
                                                 const std::vector<ParamSlot>& params);

// Writes the saved values into `params` and assigns the saved state to `optimizer`.
// Precondition: `checkpoint` came from ParseCheckpoint with these params.
void ApplyCheckpoint(ParsedCheckpoint checkpoint, const std::vector<ParamSlot>& params,
                     Optimizer* optimizer);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_CHECKPOINT_H_
