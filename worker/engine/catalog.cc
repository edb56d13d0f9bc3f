#include "worker/engine/catalog.h"

#include <utility>

#include "common/check.h"
#include "worker/engine/dataset/barcoded_fashion_mnist.h"
#include "worker/engine/dataset/binary.h"
#include "worker/engine/dataset/csv.h"
#include "worker/engine/dataset/fashion_mnist.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"
#include "worker/engine/dataset/noisy_patches.h"
#include "worker/engine/dataset/npy.h"
#include "worker/engine/dataset/text.h"
#include "worker/engine/dataset/zipf_gaussian.h"
#include "worker/engine/model/attention2.h"
#include "worker/engine/model/cnn.h"
#include "worker/engine/model/linear.h"
#include "worker/engine/model/mlp.h"
#include "worker/engine/model/transformer.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/optimizer/adafactor.h"
#include "worker/engine/optimizer/adagrad.h"
#include "worker/engine/optimizer/adam.h"
#include "worker/engine/optimizer/adamuon.h"
#include "worker/engine/optimizer/gd.h"
#include "worker/engine/optimizer/grouped.h"
#include "worker/engine/optimizer/lion.h"
#include "worker/engine/optimizer/muon.h"
#include "worker/engine/optimizer/normalized_gd.h"
#include "worker/engine/optimizer/rmsprop.h"
#include "worker/engine/optimizer/scaled_sign.h"
#include "worker/engine/optimizer/shampoo.h"
#include "worker/engine/optimizer/sign_descent.h"
#include "worker/engine/optimizer/signum.h"
#include "worker/engine/optimizer/soap.h"
#include "worker/engine/optimizer/spa.h"
#include "worker/engine/optimizer/splus.h"
#include "worker/engine/task/convex_relu.h"
#include "worker/engine/task/quantize.h"
#include "worker/engine/task/train.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

// ---- the tables: one line per registered component ------------------------------------------

const std::vector<const TaskDef*>& Tasks() {
  static const auto* table = new std::vector<const TaskDef*>{
      &TrainTaskDefinition(),  // The default task.
      &ConvexReluTaskDefinition(),
      &QuantizeTaskDefinition(),
  };
  return *table;
}

const std::vector<const DatasetDef*>& Datasets() {
  static const auto* table = new std::vector<const DatasetDef*>{
      &HeavyTailUniformDefinition(),
      &ZipfGaussianDefinition(),
      &CsvDefinition(),
      &NpyDefinition(),
      &FashionMnistDefinition(),
      &BarcodedFashionMnistDefinition(),
      &NoisyPatchesDefinition(),
      &TextDefinition(),
      &TwoGaussiansDefinition(),
      &FashionMnistPcaDefinition(),
  };
  return *table;
}

const std::vector<const ModelDef*>& Models() {
  static const auto* table = new std::vector<const ModelDef*>{
      &LinearDefinition(),      &MlpDefinition(),        &CnnDefinition(),
      &TransformerDefinition(), &Attention2Definition(),
  };
  return *table;
}

const std::vector<const OptimizerDef*>& Optimizers() {
  static const auto* table = new std::vector<const OptimizerDef*>{
      &GradientDescentDefinition(),
      &SgdDefinition(),
      &AdamDefinition(),
      &AdamWDefinition(),
      &AdagradDefinition(),
      &RmspropDefinition(),
      &SignDescentDefinition(),
      &NormalizedGradientDescentDefinition(),
      &ScaledSignDescentDefinition(),
      &SignumDefinition(),
      &LionDefinition(),
      &AdafactorDefinition(),
      &MuonDefinition(),
      &AdaMuonDefinition(),
      &ShampooDefinition(),
      &SoapDefinition(),
      &SplusDefinition(),
      &SpaDefinition(),
      &Paper2AuxAdamDefinition(),
  };
  return *table;
}

const std::vector<const ObjectiveDef*>& Objectives() {
  static const auto* table = new std::vector<const ObjectiveDef*>{
      &CrossEntropyDefinition(),
      &SequenceCrossEntropyDefinition(),
  };
  return *table;
}

// ---- derived ---------------------------------------------------------------------------------

namespace {

template <typename Def>
void AddSpecs(const std::vector<const Def*>& table, std::vector<const spec::ComponentSpec*>* out) {
  for (const Def* def : table) out->push_back(&def->spec);
}

template <typename Def>
const Def& FindIn(const std::vector<const Def*>& table, const std::string& name) {
  for (const Def* def : table) {
    if (def->spec.name == name) return *def;
  }
  OPTBENCH_CHECK(false);  // Names are validated before anything is built.
  return *table.front();
}

}  // namespace

const spec::Catalog& Catalog() {
  static const spec::Catalog* catalog = [] {
    std::vector<const spec::TaskSpec*> tasks;
    for (const TaskDef* def : Tasks()) tasks.push_back(&def->spec);
    std::vector<const spec::ComponentSpec*> components;
    AddSpecs(Datasets(), &components);
    AddSpecs(Models(), &components);
    AddSpecs(Optimizers(), &components);
    AddSpecs(Objectives(), &components);
    return new spec::Catalog(std::move(tasks), std::move(components));
  }();
  return *catalog;
}

const TaskDef& FindTask(const std::string& name) { return FindIn(Tasks(), name); }
const DatasetDef& FindDataset(const std::string& name) { return FindIn(Datasets(), name); }
const ModelDef& FindModel(const std::string& name) { return FindIn(Models(), name); }
const OptimizerDef& FindOptimizer(const std::string& name) { return FindIn(Optimizers(), name); }
const ObjectiveDef& FindObjective(const std::string& name) { return FindIn(Objectives(), name); }

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const std::string& name,
                                                         const spec::ParamMap& params) {
  absl::StatusOr<spec::ParamMap> p =
      Catalog().ValidateComponent(spec::ComponentKind::kOptimizer, name, params);
  if (!p.ok()) return p.status();
  return FindOptimizer(name).build(*p);
}

absl::StatusOr<std::unique_ptr<Model>> MakeModel(const std::string& name,
                                                 const spec::ParamMap& params, int64_t num_features,
                                                 int64_t num_classes, uint64_t seed) {
  absl::StatusOr<spec::ParamMap> p =
      Catalog().ValidateComponent(spec::ComponentKind::kModel, name, params);
  if (!p.ok()) return p.status();
  return FindModel(name).build(*p, ModelShape{num_features, num_classes, 1}, seed);
}

absl::StatusOr<Dataset> MakeDataset(const std::string& name, const spec::ParamMap& params) {
  absl::StatusOr<spec::ParamMap> p =
      Catalog().ValidateComponent(spec::ComponentKind::kDataset, name, params);
  if (!p.ok()) return p.status();
  return FindDataset(name).build(*p);
}

absl::StatusOr<int64_t> OptimizerStateTensorsPerSlot(const std::string& name,
                                                     const spec::ParamMap& params) {
  absl::StatusOr<spec::ParamMap> p =
      Catalog().ValidateComponent(spec::ComponentKind::kOptimizer, name, params);
  if (!p.ok()) return p.status();
  return FindOptimizer(name).state_tensors(*p);
}

absl::StatusOr<ModelFootprint> ModelFootprintOf(const std::string& name,
                                                const spec::ParamMap& params, int64_t num_features,
                                                int64_t num_classes) {
  absl::StatusOr<spec::ParamMap> p =
      Catalog().ValidateComponent(spec::ComponentKind::kModel, name, params);
  if (!p.ok()) return p.status();
  return FindModel(name).footprint(*p, ModelShape{num_features, num_classes, 1});
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
