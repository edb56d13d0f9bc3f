#include "worker/engine/task/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "spec/catalog.h"
#include "worker/engine/catalog.h"
#include "worker/engine/kept_model.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/optimizer/sign_descent.h"
#include "worker/engine/optimizer/state_io.h"
#include "worker/engine/quant/quantized_export.h"
#include "worker/engine/quant/quantizer.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

// The task's component slots: the source's, copied in at submission, and the optimizer that
// trains the rounding when quantize.method is "optimizer".
constexpr char kDataset[] = "dataset";
constexpr char kModel[] = "model";
constexpr char kObjective[] = "objective";
constexpr char kOptimizer[] = "optimizer";

constexpr double kMaxSteps = 1e7;

QuantizeSettings SettingsOf(const spec::JobSpec& spec) {
  return QuantizeSettingsBinding().Read(spec.settings);
}

QuantConfig ConfigOf(const QuantizeSettings& s) {
  QuantConfig c;
  c.bits = static_cast<int>(s.bits);
  c.group_size = s.group_size;
  c.symmetric = s.symmetric;
  return c;
}

// Steps per quantized block.
int64_t StepsPerBlock(const QuantizeSettings& s) { return s.method == kQuantizeRtn ? 1 : s.iters; }

// Blocks of a model as its component declares them, without building it (the coordinator's
// progress units); 0 for a model without block-wise access (the run then fails, naming it).
int64_t DeclaredBlocks(const spec::ComponentChoice& model) {
  absl::StatusOr<const spec::ComponentSpec*> found =
      Catalog().Find(spec::ComponentKind::kModel, model.name);
  if (!found.ok() || !(*found)->blocks) return 0;
  return (*found)->blocks(model.params);
}

int64_t TotalSteps(const spec::JobSpec& spec) {
  const QuantizeSettings s = SettingsOf(spec);
  const spec::ComponentChoice* model = spec.find_component(kModel);
  const int64_t units = (model != nullptr ? DeclaredBlocks(*model) : 0) + (s.quantize_head ? 1 : 0);
  return std::max<int64_t>(1, units) * StepsPerBlock(s);
}

absl::Status NotBlockwiseError(absl::string_view model) {
  return absl::InvalidArgumentError(
      absl::StrCat("model: '", model,
                   "' has no linear layers quantize can take block by block (it quantizes mlp "
                   "and transformer models)"));
}

absl::Status NoHiddenLayersError(absl::string_view model) {
  return absl::InvalidArgumentError(
      absl::StrCat("model: '", model,
                   "' has no hidden linear layers to quantize; set quantize.quantize_head: true "
                   "to quantize its output layer"));
}

// The data's footprint and the shape the job's model is built for (the shape the source job
// built it for: its data set and objective are copied in).
struct JobShape {
  DataFootprint data;
  ModelShape model;
};

absl::StatusOr<JobShape> ShapeOf(const spec::ComponentChoice& dataset,
                                 const spec::ComponentChoice* objective) {
  JobShape out;
  OPTBENCH_ASSIGN_OR_RETURN(out.data, FindDataset(dataset.name).footprint(dataset.params));
  const int64_t positions =
      FindObjective(objective != nullptr ? objective->name : CrossEntropyDefinition().spec.name)
          .build(objective != nullptr ? objective->params : spec::ParamMap{}, out.data.num_features)
          ->outputs_per_example();
  out.model = ModelShape{out.data.num_features, out.data.num_classes, positions};
  return out;
}

// With the source's components copied in (after resolution at submission): the model can be
// taken block by block, has a layer to quantize, and every such layer's width is cut evenly by
// the group size. The same checks as the run's, without building the model.
absl::Status CheckLayers(const spec::JobSpec& spec, const QuantizeSettings& s) {
  const spec::ComponentChoice* dataset = spec.find_component(kDataset);
  const spec::ComponentChoice* model = spec.find_component(kModel);
  if (dataset == nullptr || model == nullptr) return absl::OkStatus();
  const ModelDef& def = FindModel(model->name);
  if (!def.block_weights) return NotBlockwiseError(model->name);
  OPTBENCH_ASSIGN_OR_RETURN(const JobShape shape,
                            ShapeOf(*dataset, spec.find_component(kObjective)));
  const std::vector<BlockWeight> weights = def.block_weights(model->params, shape.model);
  if (weights.empty()) return NotBlockwiseError(model->name);
  const int64_t head = weights.back().block;
  int64_t quantized = 0;
  for (const BlockWeight& w : weights) {
    if (w.block == head && !s.quantize_head) continue;
    OPTBENCH_RETURN_IF_ERROR(CheckGroupsFit(ConfigOf(s), w.id, w.inputs));
    ++quantized;
  }
  if (quantized == 0) return NoHiddenLayersError(model->name);
  return absl::OkStatus();
}

absl::Status CheckQuantizeJob(const spec::JobSpec& spec, const spec::Catalog& /*catalog*/) {
  const QuantizeSettings s = SettingsOf(spec);
  OPTBENCH_RETURN_IF_ERROR(ValidateQuantConfig(ConfigOf(s)));
  if (s.source.empty()) {
    return absl::InvalidArgumentError(
        "source: missing; name the job whose kept model to quantize (a job id, or a sweep "
        "and a filter: source: {sweep: s-1, optimizer: adam})");
  }
  const bool has_optimizer = spec.find_component(kOptimizer) != nullptr;
  if (s.method == kQuantizeOptimizer && !has_optimizer) {
    return absl::InvalidArgumentError(
        "quantize.method: 'optimizer' trains the rounding with the job's optimizer, but no "
        "optimizer is given");
  }
  if (s.method != kQuantizeOptimizer && has_optimizer) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer: given, but quantize.method is '", s.method,
                     "' (set quantize.method: optimizer to train the rounding with it)"));
  }
  if (s.method != kQuantizeSignSgd && s.lr != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantize.lr: is sign_sgd's step size; method '", s.method,
                     "' does not read it (an optimizer's lr is its own parameter)"));
  }
  if (s.batch_size > s.samples) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantize.batch_size: ", s.batch_size, " exceeds the ", s.samples, " calibration samples"));
  }
  return CheckLayers(spec, s);
}

}  // namespace

const spec::Binding<QuantizeSettings>& QuantizeSettingsBinding() {
  using O = QuantizeSettings;
  static const auto* binding = new spec::Binding<O>({
      spec::Bind(&O::source, spec::kSourceSetting, {},
                 "the job whose kept model is quantized: a job id, or at submission a filter "
                 "(sweep file: source: {sweep: <id or name>, <label>: <value>})"),
      spec::Bind(&O::source_seed, spec::kSourceSeedSetting, spec::Closed(0, 9.0e15),
                 "the source job's seed (set at submission)"),
      spec::Bind(&O::bits, "bits", spec::Closed(2, 8), "integer bits per weight: 2, 3, 4 or 8"),
      spec::Bind(&O::group_size, "group_size", spec::Closed(-1, 1e6),
                 "consecutive inputs of a row sharing one scale and zero point; -1 = the whole "
                 "row; must divide every quantized layer's input width"),
      spec::Bind(&O::symmetric, "symmetric",
                 "symmetric integers around 0 (no zero point) instead of asymmetric [0, 2^b - 1]"),
      spec::Bind(&O::method, "method", {kQuantizeSignSgd, kQuantizeRtn, kQuantizeOptimizer},
                 "sign_sgd (SignRound: signed steps, linear decay, keep-best), rtn (round to "
                 "nearest, no training) or optimizer (the job's optimizer, same decay and "
                 "keep-best)"),
      spec::Bind(&O::iters, "iters", spec::Closed(1, kMaxSteps), "T: steps per block"),
      spec::Bind(&O::lr, "lr", spec::Closed(0, 10),
                 "sign_sgd's step size, decayed linearly to 0 over T; 0 = 1/T (a budget of about "
                 "0.5 for V)"),
      spec::Bind(&O::keep_best, "keep_best",
                 "finish each block with the rounding its lowest-loss step evaluated (as "
                 "auto-round); false: the rounding after the last update"),
      spec::Bind(&O::samples, "samples", spec::Closed(1, 1e6),
                 "calibration examples drawn from the train split"),
      spec::Bind(&O::batch_size, "batch_size", spec::Closed(1, 1e6),
                 "calibration examples per step, taken without replacement from a shuffled "
                 "order, reshuffled when fewer than a batch remain (auto-round's sampler)"),
      spec::Bind(&O::quantized_input, "quantized_input",
                 "feed each block the outputs of the quantized blocks before it (else the "
                 "full-precision ones)"),
      spec::Bind(&O::quantize_head, "quantize_head",
                 "also quantize the output layer (a block of its own, after the others)"),
      spec::Bind(&O::eval_every, "eval_every", spec::Closed(1, kMaxSteps),
                 "report the reconstruction MSE every K steps of a block (and its first and "
                 "last)"),
  });
  return *binding;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// ---- metrics ---------------------------------------------------------------------------------

std::vector<spec::MetricSpec> StepMetrics() {
  using spec::MetricSplits;
  return {
      spec::ScalarMetric("recon_mse", MetricSplits::kTrain,
                         "block-wise reconstruction MSE of the step's calibration batch, for the "
                         "block being quantized (steps u*S+1..(u+1)*S: block u)"),
      spec::ScalarMetric("best_mse", MetricSplits::kTrain,
                         "the lowest recon_mse of the block so far (what keep-best keeps)"),
  };
}

std::vector<spec::MetricSpec> BlockMetrics() {
  using spec::MetricSplits;
  return {
      spec::PerItemMetric("block_mse", "block", MetricSplits::kTrain,
                          "final reconstruction MSE per block over every calibration sample"),
      spec::PerItemMetric("block_mse_rtn", "block", MetricSplits::kTrain,
                          "round-to-nearest's reconstruction MSE per block, same inputs"),
      spec::PerItemMetric("block_changed", "block", MetricSplits::kTrain,
                          "share of the block's integer weights that differ from "
                          "round-to-nearest's"),
  };
}

// The quantized model's per-class metrics are the objective's own (loss, accuracy, ...: declared
// by the objective component, not here); the full-precision model's are the same with kFpPrefix;
// then the agreement of their predictions.
std::vector<spec::MetricSpec> ClassMetrics(const std::vector<spec::MetricSpec>& objective) {
  std::vector<spec::MetricSpec> out;
  for (const spec::MetricSpec& m : objective) {
    spec::MetricSpec q = m;
    q.name = FullPrecisionMetricName(m.name);
    if (!q.query.empty()) q.query = FullPrecisionMetricName(m.query);
    q.doc = absl::StrCat("full precision: ", m.doc);
    q.primary = false;
    out.push_back(std::move(q));
  }
  out.push_back(spec::HigherIsBetter(spec::Renamed(
      spec::PerClassMetric("agree", spec::MetricSplits::kEach, spec::Aggregate::kPerExample,
                           "targets of the class where the quantized model's argmax equals "
                           "the full-precision model's"),
      "agreement")));
  return out;
}

// ---- the source model ------------------------------------------------------------------------

// A quantized dense weight: its slot, full-precision copy, rounding and gradients.
struct Layer {
  ParamSlot slot;
  Matrix fp;
  RoundingParams rounding, grad;
  QuantizedMatrix quantized;
};

// One quantized block: the model's block index, its name (the metrics' item) and its layers.
struct Unit {
  int64_t block = 0;
  std::string name;
  std::vector<size_t> layers;  // Into the layers vector.
};

// The metrics' item of block b: "block<b>", or "head" for the head block.
std::string UnitName(int64_t block, int64_t blocks) {
  return block == blocks ? std::string("head") : absl::StrCat("block", block);
}

// Calibration: `count` distinct train rows, drawn by a partial Fisher-Yates shuffle.
std::vector<int64_t> CalibrationRows(int64_t train_rows, int64_t count, uint64_t seed) {
  std::vector<int64_t> rows(static_cast<size_t>(train_rows));
  for (int64_t i = 0; i < train_rows; ++i) rows[static_cast<size_t>(i)] = i;
  Rng rng(seed, RngStream::kCalibration);
  const int64_t n = std::min(count, train_rows);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j =
        i + static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(train_rows - i)));
    std::swap(rows[static_cast<size_t>(i)], rows[static_cast<size_t>(j)]);
  }
  rows.resize(static_cast<size_t>(n));
  return rows;
}

// Rows [i·R, (i+1)·R) of `h` for each example i of `examples` (R = rows per example).
Matrix GatherExamples(const Matrix& h, const std::vector<int64_t>& examples, int64_t per) {
  Matrix out(static_cast<Eigen::Index>(examples.size()) * per, h.cols());
  for (size_t i = 0; i < examples.size(); ++i) {
    out.middleRows(static_cast<Eigen::Index>(i) * per, per) = h.middleRows(examples[i] * per, per);
  }
  return out;
}

double MeanSquare(const Matrix& diff) {
  return diff.size() == 0 ? 0.0
                          : diff.cast<double>().squaredNorm() / static_cast<double>(diff.size());
}

int32_t ArgMax(const ConstMatrixRef& logits, Eigen::Index row) {
  Eigen::Index best = 0;
  for (Eigen::Index k = 1; k < logits.cols(); ++k) {
    if (logits(row, k) > logits(row, best)) best = k;  // Ties: the lowest index.
  }
  return static_cast<int32_t>(best);
}

// What one evaluation pass of a split found.
struct SplitPass {
  ClassStats stats;
  std::vector<int32_t> predictions;  // Argmax per output row.
  std::vector<int32_t> targets;      // The class each output row is scored against.
};

SplitPass EvaluateSplit(Model* model, Objective* objective, const DataSplit& split,
                        int64_t num_classes) {
  constexpr int64_t kChunk = 256;
  const int64_t per = objective->outputs_per_example();
  SplitPass pass;
  pass.stats.Reset(num_classes);
  pass.predictions.resize(static_cast<size_t>(split.size() * per));
  pass.targets.reserve(static_cast<size_t>(split.size() * per));
  Matrix outputs;
  std::vector<int32_t> targets;
  for (int64_t start = 0; start < split.size(); start += kChunk) {
    const int64_t r = std::min(kChunk, split.size() - start);
    outputs.resize(r * per, num_classes);
    const auto x = split.features.middleRows(start, r);
    model->Forward(x, outputs);
    for (int64_t row = 0; row < r * per; ++row) {
      pass.predictions[static_cast<size_t>(start * per + row)] = ArgMax(outputs, row);
    }
    objective->Targets(x, split.labels.data() + start, &targets);
    pass.targets.insert(pass.targets.end(), targets.begin(), targets.end());
    objective->Evaluate(x, split.labels.data() + start, outputs, Real{0}, &pass.stats, nullptr);
  }
  return pass;
}

void SetWeights(std::vector<Layer>* layers, bool quantized) {
  for (Layer& l : *layers) *l.slot.value = quantized ? l.quantized.dequantized : l.fp;
}

// ---- checkpoints -----------------------------------------------------------------------------

// The rounding of every finished unit: slot id -> {"v", "alpha", "beta"}, step = the progress.
std::string SaveRounding(int64_t step, const std::vector<Layer>& layers,
                         const std::vector<Unit>& units, size_t done) {
  OptimizerState state;
  state.step = step;
  for (size_t u = 0; u < done; ++u) {
    for (size_t i : units[u].layers) {
      const Layer& l = layers[i];
      auto& t = state.tensors[l.slot.id];
      t["v"] = l.rounding.v;
      t["alpha"] = l.rounding.alpha;
      t["beta"] = l.rounding.beta;
    }
  }
  return SaveOptimizerState(state);
}

// Restores the units a checkpoint finished; returns how many (0 when it does not fit).
absl::StatusOr<size_t> LoadRounding(const std::string& bytes, int64_t step, int64_t per_unit,
                                    std::vector<Layer>* layers, const std::vector<Unit>& units) {
  OPTBENCH_ASSIGN_OR_RETURN(OptimizerState state, LoadOptimizerState(bytes));
  if (state.step != step || step % per_unit != 0) {
    return absl::DataLossError(absl::StrCat("checkpoint stored as step ", step, " holds step ",
                                            state.step, " (units end at multiples of ", per_unit,
                                            ")"));
  }
  const size_t done = static_cast<size_t>(step / per_unit);
  if (done > units.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint of step ", step, " is past the job's ", units.size(), " blocks"));
  }
  size_t expected = 0;
  for (size_t u = 0; u < done; ++u) expected += units[u].layers.size();
  if (state.tensors.size() != expected) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint holds ", state.tensors.size(),
                                                      " layers; ", expected, " expected"));
  }
  std::vector<RoundingParams> restored;
  for (size_t u = 0; u < done; ++u) {
    for (size_t i : units[u].layers) {
      const Layer& l = (*layers)[i];
      const auto it = state.tensors.find(l.slot.id);
      if (it == state.tensors.end() || it->second.size() != 3) {
        return absl::FailedPreconditionError(
            absl::StrCat("checkpoint has no rounding for ", l.slot.id));
      }
      RoundingParams p;
      for (auto [name, target, like] :
           {std::tuple{"v", &p.v, &l.rounding.v}, std::tuple{"alpha", &p.alpha, &l.rounding.alpha},
            std::tuple{"beta", &p.beta, &l.rounding.beta}}) {
        const auto t = it->second.find(name);
        if (t == it->second.end() || t->second.rows() != like->rows() ||
            t->second.cols() != like->cols()) {
          return absl::FailedPreconditionError(
              absl::StrCat("checkpoint's ", l.slot.id, ".", name, " does not fit the layer"));
        }
        *target = t->second;
      }
      restored.push_back(std::move(p));
    }
  }
  size_t k = 0;
  for (size_t u = 0; u < done; ++u) {
    for (size_t i : units[u].layers) (*layers)[i].rounding = std::move(restored[k++]);
  }
  return done;
}

// ---- the run ---------------------------------------------------------------------------------

class QuantizeRun {
 public:
  QuantizeRun(const spec::JobSpec& spec, RunSink* sink, const std::function<bool()>& should_stop)
      : spec_(spec),
        s_(SettingsOf(spec)),
        config_(ConfigOf(s_)),
        sink_(sink),
        should_stop_(should_stop) {}

  absl::StatusOr<RunResult> Run();

 private:
  absl::Status Build();
  absl::StatusOr<size_t> Resume();
  // Trains the rounding of unit u on inputs h_in (quantized inputs) against y_ref; returns the
  // outcome when the run must end early (cancelled, diverged).
  absl::StatusOr<std::optional<RunResult>> TrainUnit(size_t u, const Matrix& h_in,
                                                     const Matrix& y_ref);
  void QuantizeUnit(const Unit& unit);
  absl::Status Finish(int64_t step, const std::vector<double>& mse,
                      const std::vector<double>& mse_rtn, const std::vector<double>& changed);
  std::string Export() const;

  const spec::JobSpec& spec_;
  const QuantizeSettings s_;
  const QuantConfig config_;
  RunSink* sink_;
  const std::function<bool()>& should_stop_;

  std::optional<Dataset> data_;
  std::string objective_name_;
  std::unique_ptr<Objective> objective_;
  std::unique_ptr<Model> model_;
  ModelBlocks* blocks_ = nullptr;
  std::vector<Layer> layers_;
  std::vector<Unit> units_;
  int64_t per_example_rows_ = 1;  // Rows of a hidden state per example.
  Matrix calibration_;            // The calibration examples' features.
};

absl::Status QuantizeRun::Build() {
  const spec::ComponentChoice* dataset = spec_.find_component(kDataset);
  const spec::ComponentChoice* model = spec_.find_component(kModel);
  if (dataset == nullptr || model == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "source: '", s_.source,
        "' was not resolved (the coordinator copies the source job's data set and model in at "
        "submission)"));
  }
  OPTBENCH_ASSIGN_OR_RETURN(Dataset data, FindDataset(dataset->name).build(dataset->params));
  data_.emplace(std::move(data));
  const spec::ComponentChoice* objective = spec_.find_component(kObjective);
  objective_name_ = objective != nullptr ? objective->name : CrossEntropyDefinition().spec.name;
  const ObjectiveDef& objective_def = FindObjective(objective_name_);
  objective_ = objective_def.build(objective != nullptr ? objective->params : spec::ParamMap{},
                                   data_->num_features());
  const ModelShape shape{data_->num_features(), data_->num_classes(),
                         objective_->outputs_per_example()};
  OPTBENCH_ASSIGN_OR_RETURN(model_,
                            FindModel(model->name).build(model->params, shape, s_.source_seed));
  absl::StatusOr<std::string> bytes = sink_->LoadSourceModel();
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(),
                        absl::StrCat("source: job ", s_.source, ": ", bytes.status().message()));
  }
  const std::vector<ParamSlot> params = model_->Params();
  if (absl::Status loaded = LoadKeptModel(*bytes, params); !loaded.ok()) {
    return absl::Status(loaded.code(), absl::StrCat("source: the model kept by job ", s_.source,
                                                    ": ", loaded.message()));
  }
  blocks_ = model_->Blocks();
  if (blocks_ == nullptr) return NotBlockwiseError(model->name);
  const int64_t count = blocks_->num_blocks() + (s_.quantize_head ? 1 : 0);
  for (int64_t b = 0; b < count; ++b) {
    Unit unit{b, UnitName(b, blocks_->num_blocks()), {}};
    for (const std::string& id : blocks_->BlockWeights(b)) {
      const auto it = std::find_if(params.begin(), params.end(),
                                   [&](const ParamSlot& p) { return p.id == id; });
      if (it == params.end()) continue;  // Unreachable: blocks list their model's slots.
      OPTBENCH_RETURN_IF_ERROR(CheckGroupsFit(config_, id, it->value->cols()));
      Layer layer;
      layer.slot = *it;
      layer.fp = *it->value;
      layer.rounding = InitialRounding(config_, it->value->rows(), it->value->cols());
      unit.layers.push_back(layers_.size());
      layers_.push_back(std::move(layer));
    }
    units_.push_back(std::move(unit));
  }
  if (layers_.empty()) return NoHiddenLayersError(model->name);
  const std::vector<int64_t> rows = CalibrationRows(data_->train().size(), s_.samples, spec_.seed);
  if (static_cast<int64_t>(rows.size()) < s_.batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("quantize.batch_size: ", s_.batch_size,
                                                   " exceeds the ", rows.size(),
                                                   " examples of the train split"));
  }
  calibration_.resize(static_cast<Eigen::Index>(rows.size()), data_->num_features());
  for (size_t i = 0; i < rows.size(); ++i) {
    calibration_.row(static_cast<Eigen::Index>(i)) = data_->train().features.row(rows[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> QuantizeRun::Resume() {
  const int64_t per_unit = StepsPerBlock(s_);
  int64_t before = std::numeric_limits<int64_t>::max();
  while (true) {
    OPTBENCH_ASSIGN_OR_RETURN(std::optional<RunSink::StoredCheckpoint> stored,
                              sink_->LoadCheckpoint(before));
    if (!stored.has_value()) return 0;
    if (stored->step >= before || stored->step < 1) return 0;
    absl::StatusOr<size_t> done =
        LoadRounding(stored->bytes, stored->step, per_unit, &layers_, units_);
    if (done.ok()) {
      sink_->OnResumed(stored->step);
      return *done;
    }
    sink_->OnCheckpointRejected(stored->step, done.status());
    before = stored->step;
  }
}

void QuantizeRun::QuantizeUnit(const Unit& unit) {
  for (size_t i : unit.layers) {
    Layer& l = layers_[i];
    Quantize(l.fp, l.rounding, config_, &l.quantized);
    *l.slot.value = l.quantized.dequantized;
  }
}

absl::StatusOr<std::optional<RunResult>> QuantizeRun::TrainUnit(size_t u, const Matrix& h_in,
                                                                const Matrix& y_ref) {
  const Unit& unit = units_[u];
  const int64_t T = s_.iters;
  const int64_t base = static_cast<int64_t>(u) * T;
  std::vector<ParamSlot> slots;
  for (size_t i : unit.layers) {
    Layer& l = layers_[i];
    l.grad = InitialRounding(config_, l.fp.rows(), l.fp.cols());
    slots.push_back(
        {absl::StrCat(l.slot.id, ".v"), &l.rounding.v, &l.grad.v, ParamRole::kHiddenMatrix});
    slots.push_back({absl::StrCat(l.slot.id, ".alpha"), &l.rounding.alpha, &l.grad.alpha,
                     ParamRole::kHiddenMatrix});
    slots.push_back({absl::StrCat(l.slot.id, ".beta"), &l.rounding.beta, &l.grad.beta,
                     ParamRole::kHiddenMatrix});
  }
  std::unique_ptr<Optimizer> optimizer;
  double lr = 0;
  if (s_.method == kQuantizeSignSgd) {
    lr = s_.lr > 0 ? s_.lr : 1.0 / static_cast<double>(T);
    // SignSGD: sign descent without momentum, theta <- theta - lr sign(g).
    OPTBENCH_ASSIGN_OR_RETURN(optimizer,
                              MakeOptimizer(SignDescentDefinition().spec.name, {{"lr", lr}}));
  } else {
    const spec::ComponentChoice& choice = spec_.component(kOptimizer);
    optimizer = FindOptimizer(choice.name).build(choice.params);
    lr = spec::GetDouble(choice.params, "lr");
  }
  // Each unit draws its batches from its own generator: a resumed run redoes it identically.
  Rng rng(spec_.seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(unit.block) + 1)),
          RngStream::kRounding);
  const int64_t n = calibration_.rows();
  // auto-round's IndexSampler: batches go through a shuffled order without replacement, and the
  // order is shuffled again when fewer than a batch remain.
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  int64_t cursor = n;  // Shuffle before the first batch.
  double best = std::numeric_limits<double>::infinity();
  std::vector<RoundingParams> best_rounding;
  for (int64_t t = 0; t < T; ++t) {
    if (should_stop_ && should_stop_()) {
      RunResult r;
      r.outcome = RunOutcome::kCancelled;
      r.steps_done = base + t;
      return std::optional<RunResult>(r);
    }
    if (cursor + s_.batch_size > n) {
      for (int64_t i = n - 1; i > 0; --i) {
        const int64_t j = static_cast<int64_t>(rng.UniformInt(static_cast<uint64_t>(i + 1)));
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
      }
      cursor = 0;
    }
    const std::vector<int64_t> batch(order.begin() + cursor,
                                     order.begin() + cursor + s_.batch_size);
    cursor += s_.batch_size;
    const Matrix in = GatherExamples(h_in, batch, per_example_rows_);
    const Matrix ref = GatherExamples(y_ref, batch, per_example_rows_);
    QuantizeUnit(unit);
    Matrix out;
    blocks_->BlockForward(unit.block, in, &out);
    Matrix diff = out - ref;
    const double loss = MeanSquare(diff);
    if (!std::isfinite(loss)) {
      RunResult r;
      r.outcome = RunOutcome::kDiverged;
      r.steps_done = base + t;
      r.message =
          absl::StrCat("reconstruction MSE of ", unit.name, " is ", loss, " at its step ", t);
      return std::optional<RunResult>(r);
    }
    if (loss < best) {
      best = loss;
      best_rounding.clear();
      for (size_t i : unit.layers) best_rounding.push_back(layers_[i].rounding);
    }
    if (t % s_.eval_every == 0 || t + 1 == T) {
      MetricBatch batch_metrics;
      batch_metrics.step = base + t + 1;
      batch_metrics.Add("recon_mse", Split::kTrain, {loss});
      batch_metrics.Add("best_mse", Split::kTrain, {best});
      OPTBENCH_RETURN_IF_ERROR(sink_->OnEvaluation(batch_metrics));
    }
    // d mean(diff^2) / d out, through the block to the dequantized weights, then through the
    // quantizer's straight-through estimator to V, alpha and beta.
    diff *= Real{2} / static_cast<Real>(diff.size());
    model_->ZeroGrad();
    blocks_->BlockBackward(unit.block, diff);
    for (size_t i : unit.layers) {
      Layer& l = layers_[i];
      l.grad.v.setZero();
      l.grad.alpha.setZero();
      l.grad.beta.setZero();
      QuantizeBackward(l.fp, l.rounding, config_, *l.slot.grad, &l.grad);
    }
    // Linear decay to 0 (auto-round's LinearLR): step t uses lr (1 - t/T).
    optimizer->Step(slots, lr * (1.0 - static_cast<double>(t) / static_cast<double>(T)));
    // alpha and beta live in [0, 1] (auto-round clamps them after each step, wrapper.py).
    for (size_t i : unit.layers) ClampAlphaBeta(&layers_[i].rounding);
    sink_->OnStep(base + t + 1);
  }
  if (s_.keep_best && !best_rounding.empty()) {
    size_t k = 0;
    for (size_t i : unit.layers) layers_[i].rounding = best_rounding[k++];
  }
  return std::optional<RunResult>();
}

absl::Status QuantizeRun::Finish(int64_t step, const std::vector<double>& mse,
                                 const std::vector<double>& mse_rtn,
                                 const std::vector<double>& changed) {
  MetricBatch batch;
  batch.step = step;
  batch.Add("block_mse", Split::kTrain, mse);
  batch.Add("block_mse_rtn", Split::kTrain, mse_rtn);
  batch.Add("block_changed", Split::kTrain, changed);
  const int64_t classes = data_->num_classes();
  std::vector<std::pair<Split, const DataSplit*>> splits = {{Split::kTrain, &data_->train()}};
  if (data_->has_test()) splits.push_back({Split::kTest, &data_->test()});
  for (const auto& [split, data] : splits) {
    SetWeights(&layers_, false);
    const SplitPass fp = EvaluateSplit(model_.get(), objective_.get(), *data, classes);
    SetWeights(&layers_, true);
    const SplitPass q = EvaluateSplit(model_.get(), objective_.get(), *data, classes);
    objective_->Report(q.stats, split, &batch);
    MetricBatch fp_batch;
    objective_->Report(fp.stats, split, &fp_batch);
    for (MetricValue& v : fp_batch.values) {
      batch.Add(FullPrecisionMetricName(v.metric), split, std::move(v.values));
    }
    std::vector<double> agree(static_cast<size_t>(classes), 0.0);
    for (size_t row = 0; row < q.predictions.size(); ++row) {
      if (q.predictions[row] == fp.predictions[row]) {
        agree[static_cast<size_t>(q.targets[row])] += 1;
      }
    }
    batch.Add("agree", split, std::move(agree));
  }
  return sink_->OnEvaluation(batch);
}

std::string QuantizeRun::Export() const {
  std::vector<ExportedLayer> out;
  for (const Layer& l : layers_) out.push_back(ToExported(l.slot.id, l.quantized, config_));
  return WriteQuantizedModel(out);
}

absl::StatusOr<RunResult> QuantizeRun::Run() {
  OPTBENCH_RETURN_IF_ERROR(Build());
  const int64_t per_unit = StepsPerBlock(s_);
  OPTBENCH_ASSIGN_OR_RETURN(const size_t resumed, Resume());

  RunInfo info;
  info.num_classes = data_->num_classes();
  info.num_features = data_->num_features();
  info.train_class_counts.assign(static_cast<size_t>(info.num_classes), 0);
  objective_->CountTargets(data_->train(), &info.train_class_counts);
  if (data_->has_test()) {
    info.test_class_counts.assign(static_cast<size_t>(info.num_classes), 0);
    objective_->CountTargets(data_->test(), &info.test_class_counts);
  }
  std::vector<std::string> names;
  for (const Unit& u : units_) names.push_back(u.name);
  info.metrics = StepMetrics();
  for (spec::MetricSpec& m : BlockMetrics()) {
    m.items = names;
    info.metrics.push_back(std::move(m));
  }
  const std::vector<spec::MetricSpec>& own = FindObjective(objective_name_).spec.metrics;
  info.metrics.insert(info.metrics.end(), own.begin(), own.end());
  for (spec::MetricSpec& m : ClassMetrics(own)) info.metrics.push_back(std::move(m));
  sink_->OnRunInfo(info);

  // Block inputs: h_fp through the full-precision blocks, h_q through the quantized ones.
  Matrix h_fp, h_q, y_ref, next;
  blocks_->Embed(calibration_, &h_fp);
  per_example_rows_ = h_fp.rows() / calibration_.rows();
  h_q = h_fp;
  std::vector<double> mse, mse_rtn, changed;
  for (size_t u = 0; u < units_.size(); ++u) {
    const Unit& unit = units_[u];
    for (size_t i : unit.layers) *layers_[i].slot.value = layers_[i].fp;
    blocks_->BlockForward(unit.block, h_fp, &y_ref);
    const Matrix& h_in = s_.quantized_input ? h_q : h_fp;
    // Round to nearest first: the baseline of this block's MSE and integers.
    std::vector<QuantizedMatrix> rtn;
    for (size_t i : unit.layers) {
      Layer& l = layers_[i];
      rtn.emplace_back();
      Quantize(l.fp, InitialRounding(config_, l.fp.rows(), l.fp.cols()), config_, &rtn.back());
      *l.slot.value = rtn.back().dequantized;
    }
    blocks_->BlockForward(unit.block, h_in, &next);
    mse_rtn.push_back(MeanSquare(next - y_ref));
    if (u >= resumed && s_.method != kQuantizeRtn) {
      OPTBENCH_ASSIGN_OR_RETURN(std::optional<RunResult> ended, TrainUnit(u, h_in, y_ref));
      if (ended.has_value()) return *ended;
    }
    QuantizeUnit(unit);
    blocks_->BlockForward(unit.block, h_in, &next);
    mse.push_back(MeanSquare(next - y_ref));
    int64_t differ = 0, total = 0;
    for (size_t k = 0; k < unit.layers.size(); ++k) {
      const Layer& l = layers_[unit.layers[k]];
      differ += (l.quantized.q.array() != rtn[k].q.array()).count();
      total += l.quantized.q.size();
    }
    changed.push_back(static_cast<double>(differ) / static_cast<double>(total));
    const int64_t step = static_cast<int64_t>(u + 1) * per_unit;
    if (u >= resumed) {
      if (s_.method == kQuantizeRtn) sink_->OnStep(step);
      OPTBENCH_RETURN_IF_ERROR(
          sink_->OnCheckpoint(step, SaveRounding(step, layers_, units_, u + 1)));
    }
    // The next block's inputs.
    if (u + 1 < units_.size()) {
      h_fp = y_ref;
      if (s_.quantized_input) h_q = next;
    }
  }
  const int64_t total = static_cast<int64_t>(units_.size()) * per_unit;
  OPTBENCH_RETURN_IF_ERROR(Finish(total, mse, mse_rtn, changed));
  OPTBENCH_RETURN_IF_ERROR(sink_->OnKeptModel(Export()));
  RunResult result;
  result.steps_done = total;
  result.resumed_from = static_cast<int64_t>(resumed) * per_unit;
  double sum_rtn = 0, sum = 0;
  for (size_t u = 0; u < mse.size(); ++u) {
    sum_rtn += mse_rtn[u];
    sum += mse[u];
  }
  result.message = absl::StrCat(units_.size(), " blocks at W", s_.bits, ": mean block MSE ", sum,
                                " vs round-to-nearest ", sum_rtn);
  return result;
}

absl::StatusOr<RunResult> RunQuantize(const spec::JobSpec& spec, RunSink* sink,
                                      const std::function<bool()>& should_stop) {
  QuantizeRun run(spec, sink, should_stop);
  return run.Run();
}

absl::StatusOr<int64_t> QuantizePeakMemory(const spec::JobSpec& spec) {
  const spec::ComponentChoice* dataset = spec.find_component(kDataset);
  const spec::ComponentChoice* model = spec.find_component(kModel);
  if (dataset == nullptr || model == nullptr) return int64_t{0};
  OPTBENCH_ASSIGN_OR_RETURN(const JobShape shape,
                            ShapeOf(*dataset, spec.find_component(kObjective)));
  const DataFootprint& data = shape.data;
  const int64_t positions = shape.model.outputs_per_example;
  OPTBENCH_ASSIGN_OR_RETURN(const ModelFootprint footprint,
                            FindModel(model->name).footprint(model->params, shape.model));
  const QuantizeSettings s = SettingsOf(spec);
  const long double real = sizeof(Real);
  const long double rows = static_cast<long double>(data.train_rows + data.test_rows);
  // The data set; the model, its full-precision copy, V and its gradient, quantized copies and
  // the optimizer's state (at most 4 tensors per weight); hidden states of the calibration set
  // (four copies: h_fp, h_q, y_ref, next) at the model's per-row buffer width; one chunk of
  // evaluation outputs and predictions.
  long double bytes = rows * (data.num_features * real + 4) + data.raw_bytes;
  bytes += 10 * static_cast<long double>(footprint.parameters) * real;
  bytes += 4 * static_cast<long double>(s.samples) *
           static_cast<long double>(footprint.buffer_reals_per_row + data.num_features) * real;
  bytes += (256 * positions * data.num_classes) * real + rows * positions * 8;
  bytes += static_cast<long double>(footprint.fixed_reals) * real;
  if (bytes >= static_cast<long double>(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  return static_cast<int64_t>(bytes);
}

spec::TaskSpec QuantizeTaskSpec() {
  using spec::ComponentKind;
  spec::TaskSpec t;
  t.name = "quantize";
  t.doc =
      "post-training weight quantization of a kept model (paper 5, SignRound): the rounding of "
      "each block's weights trained by signed gradient descent, round-to-nearest, or any "
      "optimizer; per-block reconstruction MSE and per-class loss, accuracy and agreement of "
      "the quantized and the full-precision model";
  t.slots = {
      {kDataset, ComponentKind::kDataset, false, "", false,
       "the source job's data set (copied in at submission)"},
      {kModel, ComponentKind::kModel, false, "", false,
       "the source job's model (copied in at submission)"},
      {kObjective, ComponentKind::kObjective, false, "", false,
       "the source job's objective (copied in at submission)"},
      {kOptimizer, ComponentKind::kOptimizer, false, "", true,
       "with quantize.method optimizer: trains V, alpha and beta (its lr decays linearly)"},
  };
  t.labelled_slot = kOptimizer;
  t.settings_key = "quantize";
  t.settings = QuantizeSettingsBinding().params();
  t.metrics = StepMetrics();
  for (spec::MetricSpec& m : BlockMetrics()) t.metrics.push_back(std::move(m));
  for (spec::MetricSpec& m : ClassMetrics(CrossEntropyDefinition().spec.metrics)) {
    t.metrics.push_back(std::move(m));
  }
  t.check = CheckQuantizeJob;
  t.total_steps = TotalSteps;
  t.source_slots = {kDataset, kModel, kObjective};
  return t;
}

}  // namespace

const TaskDef& QuantizeTaskDefinition() {
  static const TaskDef* def = new TaskDef{
      QuantizeTaskSpec(), RunQuantize, QuantizePeakMemory,
      "quantize.samples: the calibration set's hidden states are held four times per block"};
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
