#include "worker/engine/model/registry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/attention2.h"
#include "worker/engine/model/cnn.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/model/mlp.h"
#include "worker/engine/model/transformer.h"

namespace optbench::engine {
namespace {

absl::StatusOr<ParamMap> Validated(const std::string& name, const ParamMap& params) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec, FindComponent(ComponentKind::kModel, name));
  return ValidateParams(*spec, params);
}

// The CNN's options; InvalidArgument unless the data set's rows are height·width·in_channels
// pixels.
absl::StatusOr<CnnOptions> CnnOptionsFor(const ParamMap& p, int64_t num_features,
                                         int64_t num_classes) {
  const CnnOptions o = CnnOptionsFromParams(p, num_classes);
  if (o.height * o.width * o.in_channels != num_features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.height: the cnn expects images of height x width x in_channels = ", o.height, " x ",
        o.width, " x ", o.in_channels, " = ", o.height * o.width * o.in_channels,
        " features, but the data set has ", num_features));
  }
  return o;
}

// attention2's options; InvalidArgument unless the data set is binary with rows of two patches.
absl::StatusOr<Attention2Options> Attention2OptionsFor(const ParamMap& p, int64_t num_features,
                                                       int64_t num_classes) {
  if (num_classes != 2 || num_features % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.name: attention2 needs a binary data set whose rows are two patches [x1, x2] (2 "
        "classes, an even number of features), but the data set has ",
        num_classes, " classes and ", num_features, " features"));
  }
  Attention2Options o;
  o.d = num_features / 2;
  o.m_k = GetInt(p, "m_k");
  o.m_v = GetInt(p, "m_v");
  o.sigma0 = GetDouble(p, "sigma0");
  return o;
}

}  // namespace

absl::StatusOr<int64_t> ModelParameterCount(const std::string& name, const ParamMap& params,
                                            int64_t num_features, int64_t num_classes) {
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, Validated(name, params));
  if (name == "attention2") {
    OPTBENCH_ASSIGN_OR_RETURN(const Attention2Options o,
                              Attention2OptionsFor(p, num_features, num_classes));
    return 2 * (o.m_k + o.m_v) * o.d;
  }
  if (name == "transformer") {
    OPTBENCH_ASSIGN_OR_RETURN(const TransformerOptions o,
                              TransformerOptionsFromParams(p, num_features, num_classes));
    return TransformerParameterCount(o);
  }
  const int64_t bias = GetBool(p, "bias") ? 1 : 0;
  if (name == "linear") return num_classes * (num_features + bias);
  if (name == "mlp") {
    int64_t count = 0, in = num_features;
    for (int64_t h : GetIntList(p, "hidden")) {
      count += h * (in + bias);
      in = h;
    }
    return count + num_classes * (in + bias);
  }
  if (name == "cnn") {
    OPTBENCH_ASSIGN_OR_RETURN(const CnnOptions o, CnnOptionsFor(p, num_features, num_classes));
    return CnnShapeFor(o).num_params;
  }
  return absl::InternalError(absl::StrCat("model '", name, "' is declared but has no builder"));
}

absl::StatusOr<int64_t> ModelBufferRealsPerRow(const std::string& name, const ParamMap& params,
                                               int64_t num_features, int64_t num_classes) {
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, Validated(name, params));
  if (name == "linear") return 0;
  if (name == "mlp") {
    int64_t reals = 0;
    for (int64_t h : GetIntList(p, "hidden")) reals += 2 * h;  // Activations and their deltas.
    return reals;
  }
  if (name == "cnn") {
    OPTBENCH_ASSIGN_OR_RETURN(const CnnOptions o, CnnOptionsFor(p, num_features, num_classes));
    return CnnShapeFor(o).buffer_reals_per_row;
  }
  if (name == "attention2") {
    OPTBENCH_ASSIGN_OR_RETURN(const Attention2Options o,
                              Attention2OptionsFor(p, num_features, num_classes));
    return Attention2BufferRealsPerRow(o);
  }
  if (name == "transformer") {
    OPTBENCH_ASSIGN_OR_RETURN(const TransformerOptions o,
                              TransformerOptionsFromParams(p, num_features, num_classes));
    return TransformerBufferRealsPerRow(o);
  }
  return absl::InternalError(absl::StrCat("model '", name, "' is declared but has no builder"));
}

inline namespace OPTBENCH_ENGINE_PRECISION {

absl::StatusOr<std::unique_ptr<Model>> MakeModel(const std::string& name, const ParamMap& params,
                                                 int64_t num_features, int64_t num_classes,
                                                 uint64_t seed) {
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, Validated(name, params));
  if (name == "linear") {
    const LinearInit init =
        GetString(p, "init") == "uniform" ? LinearInit::kUniform : LinearInit::kZeros;
    return std::unique_ptr<Model>(
        new LinearModel(num_features, num_classes, GetBool(p, "bias"), init, seed));
  }
  if (name == "attention2") {
    OPTBENCH_ASSIGN_OR_RETURN(const Attention2Options o,
                              Attention2OptionsFor(p, num_features, num_classes));
    return std::unique_ptr<Model>(new Attention2Model(o, seed));
  }
  if (name == "transformer") {
    OPTBENCH_ASSIGN_OR_RETURN(const TransformerOptions o,
                              TransformerOptionsFromParams(p, num_features, num_classes));
    return std::unique_ptr<Model>(new TransformerModel(o, seed));
  }
  const DenseInit dense_init = name == "linear" || GetString(p, "init") == "kaiming_uniform"
                                   ? DenseInit::kKaimingUniform
                                   : DenseInit::kXavierUniform;
  if (name == "mlp") {
    MlpOptions o;
    o.num_inputs = num_features;
    o.hidden = GetIntList(p, "hidden");
    o.num_classes = num_classes;
    o.bias = GetBool(p, "bias");
    o.init = dense_init;
    o.zero_head = GetBool(p, "zero_head");
    return std::unique_ptr<Model>(new MlpModel(o, seed));
  }
  if (name == "cnn") {
    OPTBENCH_ASSIGN_OR_RETURN(const CnnOptions o, CnnOptionsFor(p, num_features, num_classes));
    return std::unique_ptr<Model>(new CnnModel(o, dense_init, GetBool(p, "zero_head"), seed));
  }
  return absl::InternalError(absl::StrCat("model '", name, "' is declared but has no builder"));
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
