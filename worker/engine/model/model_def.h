// ModelDef: a registered model — its declaration (parameters, doc, what data it accepts, its
// diagnostics) and how it is built and sized — written once, in the model's own .cc file with
// DefineModel, and listed in the model table (worker/engine/catalog.cc).
#ifndef OPTBENCH_WORKER_ENGINE_MODEL_MODEL_DEF_H_
#define OPTBENCH_WORKER_ENGINE_MODEL_MODEL_DEF_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spec/component.h"
#include "spec/options.h"
#include "worker/engine/model/model.h"

namespace optbench::engine {

// The data a model is built for: known once the data set is loaded.
struct ModelShape {
  int64_t num_features = 1;
  int64_t num_classes = 1;
  // Output rows per example the objective wants: 1, or the row's T positions (a model that can
  // provides the "positions" capability).
  int64_t outputs_per_example = 1;
};

// What a model of some shape holds, in Reals, for memory estimates.
struct ModelFootprint {
  int64_t parameters = 0;            // Trainable values (gradients and optimizer state scale it).
  int64_t buffer_reals_per_row = 0;  // Work buffers per example of a chunk.
  int64_t fixed_reals = 0;           // Frozen tensors and fixed work buffers.
  // Caches that grow with the distinct rows seen (last_layer_only's features), per row.
  int64_t cache_reals_per_row = 0;
  int64_t cache_max_reals = 0;
};

// The metric name of a model diagnostic (Diagnostic::name, ComponentSpec::metrics):
// "diag.<name>", so that diagnostics never clash with a task's or an objective's metrics.
inline std::string DiagnosticMetricName(absl::string_view name) {
  return absl::StrCat("diag.", name);
}

// The capability (spec::ComponentSpec::provides) of a model that implements
// Model::InputGradient: adversarial training and robustness evaluation (attack.h) need it.
inline constexpr char kInputGradientCapability[] = "input_gradient";

// The "zero_head" parameter of models with an output layer.
template <typename O>
spec::Field<O> ZeroHeadField(bool O::*member) {
  return spec::Bind(member, "zero_head",
                    "start the output layer at 0 (initial loss exactly log c)");
}

// A dense weight of a model with block-wise access (Model::Blocks): its parameter id, its block
// (num_blocks: the head block) and its input width (the columns a quantization group cuts).
struct BlockWeight {
  std::string id;
  int64_t block = 0;
  int64_t inputs = 0;
  bool operator==(const BlockWeight& o) const {
    return id == o.id && block == o.block && inputs == o.inputs;
  }
};

inline namespace OPTBENCH_ENGINE_PRECISION {

struct ModelDef {
  spec::ComponentSpec spec;
  // Built from validated parameters for `shape`, initialized from `seed` (the job seed).
  // InvalidArgument when the data does not fit the model (the message names the mismatch).
  // Throws std::bad_alloc if the parameters do not fit in memory.
  std::function<absl::StatusOr<std::unique_ptr<Model>>(const spec::ParamMap&, const ModelShape&,
                                                       uint64_t seed)>
      build;
  // InvalidArgument as `build`.
  std::function<absl::StatusOr<ModelFootprint>(const spec::ParamMap&, const ModelShape&)> footprint;
  // Models with block-wise access: every block's dense weights (ModelBlocks::BlockWeights, in
  // block order, the head block last) from the parameters and the shape alone, without building
  // the model, so that a job working block by block (quantize) is checked at submission. Null
  // for models without it (or returning nothing: no blocks for these parameters).
  std::function<std::vector<BlockWeight>(const spec::ParamMap&, const ModelShape&)> block_weights;
};

// Defines model `name` from the bound options of O. `build`, `footprint` and `check` (optional:
// rules across the parameters, InvalidArgument "model.<param>: ...") get the options read from
// validated parameters.
template <typename O>
ModelDef DefineModel(
    std::string name, std::string doc, spec::Binding<O> binding,
    std::function<absl::StatusOr<std::unique_ptr<Model>>(const O&, const ModelShape&, uint64_t)>
        build,
    std::function<absl::StatusOr<ModelFootprint>(const O&, const ModelShape&)> footprint,
    std::function<absl::Status(const O&)> check = nullptr) {
  ModelDef def;
  def.spec.kind = spec::ComponentKind::kModel;
  def.spec.name = std::move(name);
  def.spec.doc = std::move(doc);
  def.spec.params = binding.params();
  if (check) {
    def.spec.check = [binding, check](const spec::ParamMap& p) { return check(binding.Read(p)); };
  }
  def.build = [binding, build](const spec::ParamMap& p, const ModelShape& shape, uint64_t seed) {
    return build(binding.Read(p), shape, seed);
  };
  def.footprint = [binding, footprint](const spec::ParamMap& p, const ModelShape& shape) {
    return footprint(binding.Read(p), shape);
  };
  return def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_MODEL_MODEL_DEF_H_
