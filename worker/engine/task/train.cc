#include "worker/engine/task/train.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spec/catalog.h"
#include "worker/engine/catalog.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/kept_model.h"
#include "worker/engine/model/model_def.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/observer/diagnostics.h"
#include "worker/engine/observer/head_stats.h"
#include "worker/engine/observer/robustness.h"
#include "worker/engine/optimizer/grouped.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

// The task's component slots, in sweep expansion order.
constexpr char kDataset[] = "dataset";
constexpr char kModel[] = "model";
constexpr char kOptimizer[] = "optimizer";
constexpr char kAuxOptimizer[] = "aux_optimizer";
constexpr char kObjective[] = "objective";

absl::Status CheckBatchSize(int64_t batch_size, int64_t train_rows) {
  if (batch_size > train_rows) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.batch_size: ", batch_size,
                                                   " exceeds the ", train_rows,
                                                   " examples of the train split"));
  }
  return absl::OkStatus();
}

// Attacks need the model's input gradient: InvalidArgument naming the setting that asks for
// them and the model.
absl::Status CheckAttackable(const TrainerSpec& trainer, const spec::ComponentSpec& model,
                             const spec::Catalog& catalog) {
  if (!TrainerAttacks(trainer)) return absl::OkStatus();
  const auto& provides = model.provides;
  if (std::find(provides.begin(), provides.end(), kInputGradientCapability) != provides.end()) {
    return absl::OkStatus();
  }
  const std::string setting =
      trainer.adversarial != kNoAdversarial
          ? absl::StrCat("trainer.adversarial: ", trainer.adversarial)
          : absl::StrCat("trainer.attack_epsilon: ", spec::FormatDouble(trainer.attack_epsilon));
  return absl::InvalidArgumentError(
      absl::StrCat(setting, " attacks the model's input, but model '", model.name,
                   "' has no input gradient (", kInputGradientCapability, " is provided by ",
                   absl::StrJoin(catalog.Providers(kInputGradientCapability), ", "), ")"));
}

// Rules across the parts of a validated train spec.
absl::Status CheckTrainJob(const spec::JobSpec& spec, const spec::Catalog& catalog) {
  const TrainerSpec trainer = TrainerSettings().Read(spec.settings);
  OPTBENCH_RETURN_IF_ERROR(CheckTrainerSpec(trainer));
  OPTBENCH_ASSIGN_OR_RETURN(const spec::ComponentSpec* model,
                            catalog.Find(spec::ComponentKind::kModel, spec.component(kModel).name));
  OPTBENCH_RETURN_IF_ERROR(CheckAttackable(trainer, *model, catalog));
  const spec::ComponentChoice& dataset = spec.component(kDataset);
  absl::StatusOr<const spec::ComponentSpec*> data =
      catalog.Find(spec::ComponentKind::kDataset, dataset.name);
  OPTBENCH_RETURN_IF_ERROR(data.status());
  if ((*data)->traits) {
    const spec::DataTraits traits = (*data)->traits(dataset.params);
    if (traits.train_rows.has_value()) {
      OPTBENCH_RETURN_IF_ERROR(CheckBatchSize(trainer.batch_size, *traits.train_rows));
    }
  }
  return absl::OkStatus();
}

}  // namespace

spec::JobSpec TrainJob::ToSpec() const {
  spec::JobSpec out;
  out.task = TrainTaskDefinition().spec.name;
  out.components[kDataset] = dataset;
  out.components[kModel] = model;
  out.components[kOptimizer] = optimizer;
  if (aux_optimizer.has_value()) out.components[kAuxOptimizer] = *aux_optimizer;
  if (!objective.name.empty()) out.components[kObjective] = objective;
  out.settings = TrainerSettings().Write(trainer);
  out.seed = seed;
  return out;
}

TrainJob TrainJob::From(const spec::JobSpec& validated) {
  TrainJob job;
  job.dataset = validated.component(kDataset);
  job.model = validated.component(kModel);
  job.optimizer = validated.component(kOptimizer);
  if (const spec::ComponentChoice* aux = validated.find_component(kAuxOptimizer)) {
    job.aux_optimizer = *aux;
  }
  job.objective = validated.component(kObjective);
  job.trainer = TrainerSettings().Read(validated.settings);
  job.seed = validated.seed;
  return job;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// Restores the newest usable checkpoint the sink has into the model, optimizer and trainer;
// returns its step (0 when there is none).
absl::StatusOr<int64_t> ResumeFromCheckpoint(int64_t total_steps,
                                             const std::vector<ParamSlot>& params,
                                             Optimizer* optimizer, Trainer* trainer,
                                             RunSink* sink) {
  int64_t before = std::numeric_limits<int64_t>::max();
  while (true) {
    OPTBENCH_ASSIGN_OR_RETURN(std::optional<RunSink::StoredCheckpoint> stored,
                              sink->LoadCheckpoint(before));
    if (!stored.has_value()) return 0;
    if (stored->step >= before || stored->step < 1) {
      // Not what was asked for: rejecting it and asking again could loop forever.
      sink->OnCheckpointRejected(
          stored->step, absl::FailedPreconditionError(
                            absl::StrCat("asked for a checkpoint before step ", before,
                                         ", got step ", stored->step, "; starting from step 0")));
      return 0;
    }
    absl::StatusOr<ParsedCheckpoint> restored = ParseCheckpoint(stored->bytes, params);
    if (restored.ok() && restored->step != stored->step) {
      restored = absl::DataLossError(
          absl::StrCat("checkpoint stored as step ", stored->step, " holds step ", restored->step));
    }
    if (restored.ok() && restored->step > total_steps) {
      restored = absl::FailedPreconditionError(absl::StrCat(
          "checkpoint of step ", restored->step, " is past the job's ", total_steps, " steps"));
    }
    if (restored.ok()) {
      const int64_t step = restored->step;
      const double wall_seconds = restored->wall_seconds;
      const OptimizerState trainer_state = std::move(restored->trainer);
      ApplyCheckpoint(*std::move(restored), params, optimizer);
      trainer->Resume(step, wall_seconds, trainer_state);
      sink->OnResumed(step);
      return step;
    }
    sink->OnCheckpointRejected(stored->step, restored.status());
    before = stored->step;
  }
}

absl::StatusOr<std::unique_ptr<Optimizer>> BuildOptimizer(const TrainJob& job) {
  if (!job.aux_optimizer.has_value())
    return FindOptimizer(job.optimizer.name).build(job.optimizer.params);
  // Parameter groups: the trainer's step size is the main group's; the aux group runs at its
  // own lr through the scale (so a schedule scales both alike).
  const spec::ComponentChoice& aux = *job.aux_optimizer;
  return MakeGroupedOptimizer(
      job.optimizer.name, job.optimizer.params, aux.name, aux.params, 1.0,
      spec::GetDouble(aux.params, "lr") / spec::GetDouble(job.optimizer.params, "lr"));
}

// What a run reports: its objective's metrics (the objective's declaration), the loop's and the
// observers'.
std::vector<spec::MetricSpec> RunMetrics(const ObjectiveDef& objective, const Trainer& trainer) {
  std::vector<spec::MetricSpec> out = objective.spec.metrics;
  for (spec::MetricSpec& m : trainer.Metrics()) out.push_back(std::move(m));
  return out;
}

absl::StatusOr<RunResult> RunTrain(const spec::JobSpec& spec, RunSink* sink,
                                   const std::function<bool()>& should_stop) {
  const TrainJob job = TrainJob::From(spec);
  OPTBENCH_ASSIGN_OR_RETURN(const Dataset data,
                            FindDataset(job.dataset.name).build(job.dataset.params));
  OPTBENCH_RETURN_IF_ERROR(CheckBatchSize(job.trainer.batch_size, data.train().size()));
  const ObjectiveDef& objective_def = FindObjective(job.objective.name);
  TrainerParts parts;
  parts.objective = objective_def.build(job.objective.params, data.num_features());
  const ModelShape shape{data.num_features(), data.num_classes(),
                         parts.objective->outputs_per_example()};
  const ModelDef& model_def = FindModel(job.model.name);
  OPTBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                            model_def.build(job.model.params, shape, job.seed));
  OPTBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, BuildOptimizer(job));
  const std::vector<ParamSlot> params = model->Params();
  parts.observers.push_back(std::make_unique<HeadStatsObserver>(params, data.num_classes()));
  parts.observers.push_back(std::make_unique<DiagnosticsObserver>(model_def.spec.metrics));
  Trainer trainer(job.trainer, spec::GetDouble(job.optimizer.params, "lr"), &data, model.get(),
                  optimizer.get(), job.seed, std::move(parts));
  OPTBENCH_ASSIGN_OR_RETURN(
      const int64_t resumed_from,
      ResumeFromCheckpoint(job.trainer.steps, params, optimizer.get(), &trainer, sink));

  RunInfo info;
  info.num_classes = data.num_classes();
  info.num_features = data.num_features();
  info.train_class_counts = trainer.TargetCounts(data.train());
  if (data.has_test()) info.test_class_counts = trainer.TargetCounts(data.test());
  info.metrics = RunMetrics(objective_def, trainer);
  sink->OnRunInfo(info);

  TrainerCallbacks callbacks;
  callbacks.on_evaluation = [sink](const TrainerEvaluation& e) {
    return sink->OnEvaluation(*e.metrics);
  };
  callbacks.on_step = [sink](int64_t step) { sink->OnStep(step); };
  callbacks.should_stop = should_stop;
  const int64_t every = job.trainer.checkpoint_every;
  callbacks.at_step = [&](int64_t step, double wall_seconds, bool stopping) -> absl::Status {
    const bool due = stopping    ? sink->CheckpointDue(step, true)
                     : every > 0 ? step % every == 0
                                 : sink->CheckpointDue(step, false);
    if (!due) return absl::OkStatus();
    return sink->OnCheckpoint(step, SaveCheckpoint(step, wall_seconds, params, optimizer->state(),
                                                   trainer.SaveState(step)));
  };
  OPTBENCH_ASSIGN_OR_RETURN(RunResult result, trainer.Run(callbacks));
  result.resumed_from = resumed_from;
  // Only a finished run's model is worth keeping; the job must not succeed without it, so the
  // sink's error fails the run.
  if (job.trainer.keep_model && result.outcome == RunOutcome::kCompleted) {
    OPTBENCH_RETURN_IF_ERROR(sink->OnKeptModel(SaveKeptModel(params)));
  }
  return result;
}

// Sizes come from user parameters: every product and sum saturates at INT64_MAX instead of
// overflowing (a job that large is refused by any memory limit).
class SaturatingBytes {
 public:
  static int64_t Mul(std::initializer_list<int64_t> factors) {
    int64_t out = 1;
    for (int64_t f : factors) {
      if (__builtin_mul_overflow(out, f, &out)) return kMax;
    }
    return out;
  }
  void Add(int64_t term) {
    if (__builtin_add_overflow(bytes_, term, &bytes_)) bytes_ = kMax;
  }
  int64_t bytes() const { return bytes_; }

 private:
  static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t bytes_ = 0;
};

absl::StatusOr<int64_t> TrainPeakMemory(const spec::JobSpec& spec) {
  const TrainJob job = TrainJob::From(spec);
  OPTBENCH_ASSIGN_OR_RETURN(const DataFootprint data,
                            FindDataset(job.dataset.name).footprint(job.dataset.params));
  const int64_t positions = FindObjective(job.objective.name)
                                .build(job.objective.params, data.num_features)
                                ->outputs_per_example();
  OPTBENCH_ASSIGN_OR_RETURN(
      const ModelFootprint model,
      FindModel(job.model.name)
          .footprint(job.model.params, ModelShape{data.num_features, data.num_classes, positions}));
  int64_t state_per_param = FindOptimizer(job.optimizer.name).state_tensors(job.optimizer.params);
  if (job.aux_optimizer.has_value()) {
    // Each parameter is in one group; the larger state bounds both.
    state_per_param =
        std::max(state_per_param,
                 FindOptimizer(job.aux_optimizer->name).state_tensors(job.aux_optimizer->params));
  }
  using M = SaturatingBytes;
  SaturatingBytes b;
  constexpr int64_t kReal = sizeof(Real);
  const int64_t rows = data.train_rows + data.test_rows;
  const int64_t batch = job.trainer.batch_size;
  const int64_t longest = std::max(data.train_rows, data.test_rows);
  const int64_t chunk = std::min(std::max<int64_t>(1, job.trainer.chunk_rows / positions), longest);
  b.Add(M::Mul({rows, data.num_features, kReal}));  // Data set: features and labels.
  b.Add(M::Mul({rows, int64_t{sizeof(int32_t)}}));
  b.Add(M::Mul({2 + state_per_param, model.parameters, kReal}));  // Values, gradients, state.
  b.Add(M::Mul({chunk, positions, data.num_classes, kReal}));     // Outputs of a chunk.
  b.Add(M::Mul({batch, data.num_features, kReal}));               // Gathered batch.
  b.Add(M::Mul({batch, int64_t{sizeof(int32_t)}}));
  if (batch > 0) b.Add(M::Mul({data.train_rows, int64_t{sizeof(int64_t)}}));  // Sampler order.
  // The model's activation buffers for one chunk, its fixed buffers and frozen tensors, and file
  // bytes held while loading.
  b.Add(M::Mul({chunk, model.buffer_reals_per_row, kReal}));
  b.Add(M::Mul({model.fixed_reals, kReal}));
  b.Add(data.raw_bytes);
  // Attacks: a chunk's attacked examples, the attacker's input gradient and outputs (two
  // attackers and their chunk when evaluating).
  if (TrainerAttacks(job.trainer)) {
    b.Add(M::Mul({3, chunk, data.num_features + data.num_classes, kReal}));
  }
  // Caches of distinct rows (last_layer_only's features): every row of both splits in
  // full-batch mode; fresh mini-batches fill them to their cap.
  const int64_t cached =
      batch > 0 ? model.cache_max_reals
                : std::min(model.cache_max_reals, M::Mul({rows, model.cache_reals_per_row}));
  b.Add(M::Mul({cached, kReal}));
  // Per-class statistics (5 vectors per split) and one evaluation's batch (4 per split), in
  // float64; head statistics in the observer and the batch.
  b.Add(M::Mul({2 * (5 + 4), data.num_classes, int64_t{sizeof(double)}}));
  b.Add(M::Mul({2 * 7, data.num_classes, int64_t{sizeof(double)}}));
  return b.bytes();
}

spec::TaskSpec TrainTaskSpec() {
  using spec::ComponentKind;
  spec::TaskSpec t;
  t.name = "train";
  t.doc =
      "train a model with an optimizer on a data set for trainer.steps steps, minimizing the "
      "objective, with per-class statistics at every evaluation";
  t.slots = {
      {kDataset, ComponentKind::kDataset, true, "", true, "the data (train and test splits)"},
      {kModel, ComponentKind::kModel, true, "", true, "the network"},
      {kOptimizer, ComponentKind::kOptimizer, true, "", true,
       "the optimizer under test (with aux_optimizer: the hidden matrices only)"},
      {kAuxOptimizer, ComponentKind::kOptimizer, false, "", false,
       "paper 2's parameter groups: trains everything but the hidden matrices, at its own lr"},
      {kObjective, ComponentKind::kObjective, false, CrossEntropyDefinition().spec.name, true,
       "what is minimized"},
  };
  t.labelled_slot = kOptimizer;
  t.settings_key = "trainer";
  t.settings = TrainerSettings().params();
  t.metrics = TrainerMetrics();
  for (spec::MetricSpec& m : HeadStatsObserver::Metrics()) t.metrics.push_back(std::move(m));
  for (spec::MetricSpec& m : RobustnessObserver::Metrics()) t.metrics.push_back(std::move(m));
  t.check = CheckTrainJob;
  t.total_steps = [](const spec::JobSpec& s) { return spec::GetInt(s.settings, "steps"); };
  return t;
}

}  // namespace

const TaskDef& TrainTaskDefinition() {
  static const TaskDef* def = new TaskDef{TrainTaskSpec(), RunTrain, TrainPeakMemory, ""};
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
