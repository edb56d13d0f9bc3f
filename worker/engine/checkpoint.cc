#include "worker/engine/checkpoint.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
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

void PutU64(uint64_t value, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetU64(std::string_view bytes) {  // Precondition: at least 8 bytes.
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return value;
}

// Cuts a u64-length-prefixed part off the front of `rest`.
absl::StatusOr<std::string_view> TakePart(const char* what, std::string_view* rest) {
  if (rest->size() < 8) {
    return absl::DataLossError(absl::StrCat("checkpoint: truncated before the ", what));
  }
  const uint64_t size = GetU64(*rest);
  rest->remove_prefix(8);
  if (size > rest->size()) {
    return absl::DataLossError(absl::StrCat("checkpoint: the ", what, " claims ", size,
                                            " bytes but ", rest->size(), " are left"));
  }
  std::string_view part = rest->substr(0, size);
  rest->remove_prefix(size);
  return part;
}

}  // namespace

std::string SaveCheckpoint(int64_t step, double wall_seconds, const std::vector<ParamSlot>& params,
                           const OptimizerState& optimizer, const OptimizerState& trainer) {
  const std::string model_blob = SaveParamValues(params, step);
  const std::string optimizer_blob = SaveOptimizerState(optimizer);
  const std::string trainer_blob = SaveOptimizerState(trainer);

  std::string out(kMagic, sizeof(kMagic));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((kVersion >> (8 * i)) & 0xff));
  PutU64(static_cast<uint64_t>(step), &out);
  uint64_t wall_bits = 0;
  std::memcpy(&wall_bits, &wall_seconds, sizeof(wall_bits));
  PutU64(wall_bits, &out);
  PutU64(model_blob.size(), &out);
  out += model_blob;
  PutU64(optimizer_blob.size(), &out);
  out += optimizer_blob;
  PutU64(trainer_blob.size(), &out);
  out += trainer_blob;
  PutU64(Fnv1a64(out), &out);
  return out;
}

absl::StatusOr<ParsedCheckpoint> ParseCheckpoint(std::string_view bytes,
                                                 const std::vector<ParamSlot>& params) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return absl::DataLossError(absl::StrCat("checkpoint: ", bytes.size(),
                                            " bytes is shorter than the smallest checkpoint"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("checkpoint: bad magic (not an optbench checkpoint)");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  const uint64_t stored = GetU64(bytes.substr(body.size()));
  if (const uint64_t actual = Fnv1a64(body); actual != stored) {
    return absl::DataLossError(absl::StrCat("checkpoint: checksum mismatch (stored ",
                                            absl::Hex(stored), ", computed ", absl::Hex(actual),
                                            "): corrupt or truncated"));
  }
  uint32_t version = 0;
  for (int i = 0; i < 4; ++i) {
    version |= static_cast<uint32_t>(static_cast<unsigned char>(body[4 + i])) << (8 * i);
  }
  if (version != kVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint: version ", version, " is not supported; this build reads ", kVersion));
  }
  ParsedCheckpoint restored;
  const uint64_t step = GetU64(body.substr(8));
  const uint64_t wall_bits = GetU64(body.substr(16));
  std::memcpy(&restored.wall_seconds, &wall_bits, sizeof(wall_bits));
  if (step > static_cast<uint64_t>(INT64_MAX)) {
    return absl::DataLossError(absl::StrCat("checkpoint: step ", step, " is negative"));
  }
  restored.step = static_cast<int64_t>(step);

  std::string_view rest = body.substr(kHeaderBytes);
  OPTBENCH_ASSIGN_OR_RETURN(const std::string_view model_blob, TakePart("parameters", &rest));
  OPTBENCH_ASSIGN_OR_RETURN(const std::string_view optimizer_blob,
                            TakePart("optimizer state", &rest));
  OPTBENCH_ASSIGN_OR_RETURN(const std::string_view trainer_blob, TakePart("trainer state", &rest));
  if (!rest.empty()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint: ", rest.size(), " unexpected bytes after the trainer state"));
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
