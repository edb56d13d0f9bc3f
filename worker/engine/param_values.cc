#include "worker/engine/param_values.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/engine/optimizer/state_io.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr char kValue[] = "value";

}  // namespace

std::string SaveParamValues(const std::vector<ParamSlot>& params, int64_t step) {
  OptimizerState values;  // state_io's container: id -> {"value": tensor}.
  values.step = step;
  for (const ParamSlot& slot : params) values.tensors[slot.id].emplace(kValue, *slot.value);
  return SaveOptimizerState(values);
}

absl::StatusOr<ParsedParamValues> ParseParamValues(std::string_view bytes,
                                                   const std::vector<ParamSlot>& params,
                                                   absl::string_view what) {
  absl::StatusOr<OptimizerState> values = LoadOptimizerState(bytes);
  if (!values.ok()) {
    return absl::Status(values.status().code(),
                        absl::StrCat(what, " parameters: ", values.status().message()));
  }
  // Every parameter of this model, with its shape, and nothing else.
  if (values->tensors.size() != params.size()) {
    return absl::FailedPreconditionError(absl::StrCat(what, " holds ", values->tensors.size(),
                                                      " parameter tensors; this model has ",
                                                      params.size()));
  }
  ParsedParamValues parsed;
  parsed.step = values->step;
  parsed.values.reserve(params.size());
  for (const ParamSlot& slot : params) {
    auto it = values->tensors.find(slot.id);
    Matrix* m = nullptr;
    if (it != values->tensors.end()) {
      auto value = it->second.find(kValue);
      if (value != it->second.end() && it->second.size() == 1) m = &value->second;
    }
    if (m == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " has no parameter '", slot.id, "' of this model"));
    }
    if (m->rows() != slot.value->rows() || m->cols() != slot.value->cols()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " parameter '", slot.id, "' is ", m->rows(), " x ", m->cols(),
                       "; this model's is ", slot.value->rows(), " x ", slot.value->cols()));
    }
    parsed.values.push_back(std::move(*m));
  }
  return parsed;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
