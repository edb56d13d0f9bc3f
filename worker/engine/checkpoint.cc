#include "worker/engine/checkpoint.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "worker/engine/byte_io.h"
#include "worker/engine/optimizer/state_io.h"
#include "worker/engine/param_values.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr char kMagic[4] = {'O', 'B', 'C', 'K'};
constexpr uint32_t kVersion = 1;
// magic, version, step, wall seconds; the checksum at the end.
constexpr size_t kHeaderBytes = sizeof(kMagic) + 4 + 8 + 8;
constexpr size_t kChecksumBytes = 8;

// Cuts a u64-length-prefixed part off the front of `in`.
absl::StatusOr<std::string_view> TakePart(const char* what, ByteReader* in) {
  uint64_t size = 0;
  OPTBENCH_RETURN_IF_ERROR(in->Get(what, &size));
  if (size > in->remaining()) {
    return in->Error(
        absl::StrCat("the ", what, " claims ", size, " bytes but ", in->remaining(), " are left"));
  }
  std::string_view part;
  OPTBENCH_RETURN_IF_ERROR(in->GetBytes(what, size, &part));
  return part;
}

}  // namespace

std::string SaveCheckpoint(int64_t step, double wall_seconds, const std::vector<ParamSlot>& params,
                           const OptimizerState& optimizer, const OptimizerState& trainer) {
  const std::string model_blob = SaveParamValues(params, step);
  const std::string optimizer_blob = SaveOptimizerState(optimizer);
  const std::string trainer_blob = SaveOptimizerState(trainer);

  std::string out = StartChecksummed(kMagic, kVersion);
  PutLittleEndian(static_cast<uint64_t>(step), &out);
  uint64_t wall_bits = 0;
  std::memcpy(&wall_bits, &wall_seconds, sizeof(wall_bits));
  PutLittleEndian(wall_bits, &out);
  for (const std::string* blob : {&model_blob, &optimizer_blob, &trainer_blob}) {
    PutLittleEndian(static_cast<uint64_t>(blob->size()), &out);
    out += *blob;
  }
  FinishChecksummed(&out);
  return out;
}

absl::StatusOr<ParsedCheckpoint> ParseCheckpoint(std::string_view bytes,
                                                 const std::vector<ParamSlot>& params) {
  OPTBENCH_ASSIGN_OR_RETURN(
      ByteReader in,
      OpenChecksummed(bytes, kMagic, kVersion, kHeaderBytes + kChecksumBytes, "checkpoint"));
  ParsedCheckpoint restored;
  uint64_t step = 0, wall_bits = 0;
  OPTBENCH_RETURN_IF_ERROR(in.Get("step", &step));
  OPTBENCH_RETURN_IF_ERROR(in.Get("wall seconds", &wall_bits));
  std::memcpy(&restored.wall_seconds, &wall_bits, sizeof(wall_bits));
  if (step > static_cast<uint64_t>(INT64_MAX)) {
    return absl::DataLossError(absl::StrCat("checkpoint: step ", step, " is negative"));
  }
  restored.step = static_cast<int64_t>(step);

  OPTBENCH_ASSIGN_OR_RETURN(const std::string_view model_blob, TakePart("parameters", &in));
  OPTBENCH_ASSIGN_OR_RETURN(const std::string_view optimizer_blob,
                            TakePart("optimizer state", &in));
  OPTBENCH_ASSIGN_OR_RETURN(const std::string_view trainer_blob, TakePart("trainer state", &in));
  if (in.remaining() != 0) {
    return in.Error(absl::StrCat(in.remaining(), " unexpected bytes after the trainer state"));
  }
  absl::StatusOr<OptimizerState> trainer = LoadOptimizerState(trainer_blob);
  if (!trainer.ok()) {
    return absl::Status(trainer.status().code(),
                        absl::StrCat("checkpoint trainer state: ", trainer.status().message()));
  }
  restored.trainer = *std::move(trainer);
  OPTBENCH_ASSIGN_OR_RETURN(ParsedParamValues values,
                            ParseParamValues(model_blob, params, "checkpoint"));
  absl::StatusOr<OptimizerState> state = LoadOptimizerState(optimizer_blob);
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat("checkpoint optimizer: ", state.status().message()));
  }
  if (values.step != restored.step) {
    return absl::DataLossError(absl::StrCat("checkpoint: header step ", restored.step,
                                            " but parameters of step ", values.step));
  }
  restored.values = std::move(values.values);
  // The optimizer state must belong to these slots and this step, and every tensor be built from
  // the slot's dimensions: otherwise the optimizer's first step would abort on a shape check.
  if (state->step != restored.step) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint optimizer state is of step ",
                                                      state->step, ", not ", restored.step));
  }
  for (const auto& [id, tensors] : state->tensors) {
    const ParamSlot* slot = nullptr;
    for (const ParamSlot& p : params) {
      if (p.id == id) slot = &p;
    }
    if (slot == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint optimizer state is for slot '", id, "', not in this model"));
    }
    const Eigen::Index r = slot->value->rows(), c = slot->value->cols();
    for (const auto& [name, m] : tensors) {
      for (const Eigen::Index dim : {m.rows(), m.cols()}) {
        if (dim != r && dim != c && dim != 1) {
          return absl::FailedPreconditionError(
              absl::StrCat("checkpoint optimizer tensor '", id, "/", name, "' is ", m.rows(), " x ",
                           m.cols(), "; slot '", id, "' is ", r, " x ", c));
        }
      }
    }
  }
  restored.optimizer = *std::move(state);
  return restored;
}

void ApplyCheckpoint(ParsedCheckpoint checkpoint, const std::vector<ParamSlot>& params,
                     Optimizer* optimizer) {
  OPTBENCH_CHECK(checkpoint.values.size() == params.size());
  for (size_t i = 0; i < params.size(); ++i) *params[i].value = std::move(checkpoint.values[i]);
  *optimizer->mutable_state() = std::move(checkpoint.optimizer);
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
