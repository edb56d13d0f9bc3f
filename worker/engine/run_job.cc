#include "worker/engine/run_job.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/catalog.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/dataset/barcoded_fashion_mnist.h"
#include "worker/engine/dataset/csv.h"
#include "worker/engine/dataset/fashion_mnist.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"
#include "worker/engine/dataset/noisy_patches.h"
#include "worker/engine/dataset/npy.h"
#include "worker/engine/dataset/registry.h"
#include "worker/engine/dataset/text.h"
#include "worker/engine/dataset/zipf_gaussian.h"
#include "worker/engine/model/cnn.h"
#include "worker/engine/model/registry.h"
#include "worker/engine/model/transformer.h"
#include "worker/engine/optimizer/grouped.h"
#include "worker/engine/optimizer/registry.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

SplitMetrics ToSplitMetrics(Split split, const ClassStats& stats) {
  SplitMetrics m;
  m.split = split;
  m.loss_sum = stats.loss_sum;
  m.correct.assign(stats.correct.begin(), stats.correct.end());
  m.p_true_sum = stats.p_true_sum;
  m.p_mass = stats.p_mass;
  const double n = static_cast<double>(stats.TotalCount());
  m.loss = stats.TotalLoss() / n;
  m.accuracy = static_cast<double>(stats.TotalCorrect()) / n;
  return m;
}

absl::Status CheckBatchSize(const TrainerSpec& trainer, int64_t train_size) {
  if (trainer.batch_size > train_size) {
    return absl::InvalidArgumentError(absl::StrCat("trainer.batch_size: ", trainer.batch_size,
                                                   " exceeds the ", train_size,
                                                   " examples of the train split"));
  }
  return absl::OkStatus();
}

// Restores the newest usable checkpoint the sink has into the model, optimizer and trainer;
// returns its step (0 when there is none).
absl::StatusOr<int64_t> ResumeFromCheckpoint(const JobSpec& spec,
                                             const std::vector<ParamSlot>& params,
                                             Optimizer* optimizer, Trainer* trainer,
                                             MetricSink* sink) {
  int64_t before = std::numeric_limits<int64_t>::max();
  while (true) {
    OPTBENCH_ASSIGN_OR_RETURN(std::optional<MetricSink::StoredCheckpoint> stored,
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
    if (restored.ok() && restored->step > spec.trainer.steps) {
      restored = absl::FailedPreconditionError(absl::StrCat("checkpoint of step ", restored->step,
                                                            " is past the job's ",
                                                            spec.trainer.steps, " steps"));
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

absl::StatusOr<RunResult> RunValidated(const JobSpec& spec, MetricSink* sink,
                                       const std::function<bool()>& should_stop) {
  OPTBENCH_ASSIGN_OR_RETURN(const Dataset data,
                            MakeDataset(spec.dataset.name, spec.dataset.params));
  OPTBENCH_RETURN_IF_ERROR(CheckBatchSize(spec.trainer, data.train().size()));
  OPTBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                            MakeModel(spec.model.name, spec.model.params, data.num_features(),
                                      data.num_classes(), spec.seed));
  const double lr = GetDouble(spec.optimizer.params, "lr");
  std::unique_ptr<Optimizer> optimizer;
  if (spec.aux_optimizer.has_value()) {
    // Parameter groups: the trainer's step size is the main group's; the aux group runs at its
    // own lr through the scale (so a schedule scales both alike).
    const ComponentChoice& aux = *spec.aux_optimizer;
    const bool paper2 = aux.name == "paper2_adam";
    OPTBENCH_ASSIGN_OR_RETURN(
        optimizer, MakeGroupedOptimizer(spec.optimizer.name, spec.optimizer.params,
                                        paper2 ? "" : aux.name, paper2 ? ParamMap() : aux.params,
                                        1.0, GetDouble(aux.params, "lr") / lr));
  } else {
    OPTBENCH_ASSIGN_OR_RETURN(optimizer, MakeOptimizer(spec.optimizer.name, spec.optimizer.params));
  }
  Trainer trainer(spec.trainer, lr, &data, model.get(), optimizer.get(), spec.seed);
  const std::vector<ParamSlot> params = model->Params();
  OPTBENCH_ASSIGN_OR_RETURN(const int64_t resumed_from,
                            ResumeFromCheckpoint(spec, params, optimizer.get(), &trainer, sink));

  DatasetInfo info;
  info.num_classes = data.num_classes();
  info.num_features = data.num_features();
  info.train_class_counts = data.train().class_counts;
  if (data.has_test()) info.test_class_counts = data.test().class_counts;
  sink->OnDatasetInfo(info);

  TrainerCallbacks callbacks;
  callbacks.on_evaluation = [sink](const TrainerEvaluation& e) {
    Evaluation eval;
    eval.step = e.step;
    eval.splits.push_back(ToSplitMetrics(Split::kTrain, *e.train));
    if (e.test != nullptr) eval.splits.push_back(ToSplitMetrics(Split::kTest, *e.test));
    if (e.train_diagnostics != nullptr) eval.splits[0].diagnostics = *e.train_diagnostics;
    if (e.test_diagnostics != nullptr && e.test != nullptr) {
      eval.splits[1].diagnostics = *e.test_diagnostics;
    }
    eval.grad_norm = e.grad_norm;
    if (e.head_grad_norm != nullptr) eval.head_grad_norm = *e.head_grad_norm;
    if (e.head_gn_trace != nullptr) eval.head_gn_trace = *e.head_gn_trace;
    if (e.head_weight_norm != nullptr) eval.head_weight_norm = *e.head_weight_norm;
    if (e.head_bias_grad != nullptr) eval.head_bias_grad = *e.head_bias_grad;
    if (e.head_update_norm != nullptr) eval.head_update_norm = *e.head_update_norm;
    if (e.head_eff_lr != nullptr) eval.head_eff_lr = *e.head_eff_lr;
    eval.learning_rate = e.learning_rate;
    eval.wall_seconds = e.wall_seconds;
    return sink->OnEvaluation(eval);
  };
  callbacks.on_step = [sink](int64_t step) { sink->OnStep(step); };
  callbacks.should_stop = should_stop;
  callbacks.at_step = [&](int64_t step, double wall_seconds, bool stopping) -> absl::Status {
    if (!sink->CheckpointDue(step, stopping)) return absl::OkStatus();
    return sink->OnCheckpoint(step, SaveCheckpoint(step, wall_seconds, params, optimizer->state(),
                                                   trainer.SaveState(step)));
  };
  absl::StatusOr<RunResult> result = trainer.Run(callbacks);
  if (result.ok()) result->resumed_from = resumed_from;
  return result;
}

}  // namespace

absl::StatusOr<RunResult> RunJob(const JobSpec& spec, MetricSink* sink,
                                 const std::function<bool()>& should_stop) {
  OPTBENCH_ASSIGN_OR_RETURN(const JobSpec validated, ValidateJobSpec(spec));
  try {
    return RunValidated(validated, sink, should_stop);
  } catch (const std::bad_alloc&) {
    // Eigen and the standard containers report allocation failure by throwing; no exception
    // crosses the engine's boundary.
    absl::StatusOr<int64_t> estimate = EstimatePeakMemoryBytes(validated);
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory building or training the job",
                     estimate.ok() ? absl::StrCat(" (estimated peak ", *estimate, " bytes)") : ""));
  }
}

absl::StatusOr<int64_t> EstimatePeakMemoryBytes(const JobSpec& spec) {
  OPTBENCH_ASSIGN_OR_RETURN(const JobSpec v, ValidateJobSpec(spec));
  int64_t train_rows = 0, test_rows = 0, features = 0, classes = 0;
  int64_t raw_bytes = 0;  // File contents held while building the features.
  const ParamMap& dp = v.dataset.params;
  if (v.dataset.name == "heavy_tail_uniform") {
    const HeavyTailUniformShape s = HeavyTailUniformShapeFor(GetInt(dp, "m"));
    train_rows = s.num_examples;
    features = s.num_features;
    classes = s.num_classes;
  } else if (v.dataset.name == "zipf_gaussian") {
    const ZipfGaussianOptions o = ZipfGaussianOptionsFromParams(dp);
    for (int64_t n : ZipfTrainCounts(o)) train_rows += n;
    for (int64_t n : ZipfTestCounts(o)) test_rows += n;
    features = classes = o.classes;
  } else if (v.dataset.name == "noisy_patches") {
    const NoisyPatchesOptions o = NoisyPatchesOptionsFromParams(dp);
    train_rows = o.n_train;
    test_rows = o.n_test;
    features = 2 * o.d;
    classes = 2;
  } else if (v.dataset.name == "csv") {
    OPTBENCH_ASSIGN_OR_RETURN(const CsvShape s, ScanCsvShape(CsvOptionsFromParams(dp)));
    train_rows = s.train_rows;
    test_rows = s.test_rows;
    features = s.num_features;
    classes = s.num_classes;
  } else if (v.dataset.name == "npy") {
    OPTBENCH_ASSIGN_OR_RETURN(const NpyShape s, ScanNpyShape(NpyOptionsFromParams(dp)));
    train_rows = s.train_rows;
    test_rows = s.test_rows;
    features = s.num_features;
    classes = s.num_classes;
  } else if (v.dataset.name == "text") {
    // Rows from the caps (bounded by the corpus size); while loading, the text of a file, the
    // int32 token stream and the word dictionary (~100 bytes per distinct word, taken as one per
    // 16 corpus bytes: the fortunes corpus has one per ~75) are held.
    OPTBENCH_ASSIGN_OR_RETURN(const TextShapeBound s, BoundTextShape(TextOptionsFromParams(dp)));
    train_rows = s.train_rows;
    test_rows = s.test_rows;
    features = GetInt(dp, "context");
    classes = s.num_classes;
    raw_bytes = s.corpus_bytes + 4 * s.max_tokens + 100 * (s.corpus_bytes / 16);
  } else if (v.dataset.name == "fashion_mnist" || v.dataset.name == "barcoded_fashion_mnist") {
    // From the IDX headers; the raw bytes of both splits are held while the features are built.
    // fashion_mnist's zipf subsample is not counted (an upper bound).
    const bool barcoded = v.dataset.name == "barcoded_fashion_mnist";
    const std::string path =
        barcoded ? BarcodedOptionsFromParams(dp).path : FashionMnistOptionsFromParams(dp).path;
    OPTBENCH_ASSIGN_OR_RETURN(const FashionMnistFileShape s, ReadFashionMnistShape(path));
    features = s.pixels;
    raw_bytes = (s.train_rows + s.test_rows) * (s.pixels + 1);
    if (barcoded) {
      const BarcodedShape b =
          BarcodedShapeFor(BarcodedOptionsFromParams(dp), s.train_rows, s.test_rows);
      train_rows = b.train_rows;
      test_rows = b.test_rows;
      classes = b.num_classes;
    } else {
      const int64_t cap = FashionMnistOptionsFromParams(dp).max_train;
      train_rows = cap > 0 ? std::min(cap, s.train_rows) : s.train_rows;
      test_rows = s.test_rows;
      classes = kFashionMnistClasses;
    }
  } else {
    return absl::InternalError(
        absl::StrCat("no memory estimate for dataset '", v.dataset.name, "'"));
  }
  OPTBENCH_ASSIGN_OR_RETURN(const int64_t params,
                            ModelParameterCount(v.model.name, v.model.params, features, classes));
  OPTBENCH_ASSIGN_OR_RETURN(
      const int64_t buffer_per_row,
      ModelBufferRealsPerRow(v.model.name, v.model.params, features, classes));
  OPTBENCH_ASSIGN_OR_RETURN(int64_t state_per_param,
                            OptimizerStateTensorsPerSlot(v.optimizer.name, v.optimizer.params));
  if (v.aux_optimizer.has_value()) {
    // Each parameter is in one group; the larger state bounds both.
    OPTBENCH_ASSIGN_OR_RETURN(
        const int64_t aux_state,
        OptimizerStateTensorsPerSlot(v.aux_optimizer->name, v.aux_optimizer->params));
    state_per_param = std::max(state_per_param, aux_state);
  }
  // Sizes come from user parameters: every product and sum saturates at INT64_MAX instead of
  // overflowing (a job that large is refused by any memory limit).
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto mul = [](std::initializer_list<int64_t> factors) {
    int64_t out = 1;
    for (int64_t f : factors) {
      if (__builtin_mul_overflow(out, f, &out)) return kMax;
    }
    return out;
  };
  int64_t bytes = 0;
  auto add = [&bytes](int64_t term) {
    if (__builtin_add_overflow(bytes, term, &bytes)) bytes = kMax;
  };
  constexpr int64_t kReal = sizeof(Real);
  const int64_t rows = train_rows + test_rows;
  const int64_t batch = v.trainer.batch_size;
  const int64_t longest = std::max(train_rows, test_rows);
  const int64_t chunk = std::min(v.trainer.chunk_rows, longest);
  add(mul({rows, features, kReal}));  // Data set: features and labels.
  add(mul({rows, int64_t{sizeof(int32_t)}}));
  add(mul({2 + state_per_param, params, kReal}));  // Values, gradients, optimizer state.
  add(mul({chunk, classes, kReal}));               // Logits chunk.
  add(mul({batch, features, kReal}));              // Gathered batch.
  add(mul({batch, int64_t{sizeof(int32_t)}}));
  if (batch > 0) add(mul({train_rows, int64_t{sizeof(int64_t)}}));  // Sampler order.
  // The model's activation buffers for one chunk, and file bytes held while loading.
  add(mul({chunk, buffer_per_row, kReal}));
  add(raw_bytes);
  if (v.model.name == "cnn") {
    // The CNN's im2col buffers cover a fixed block of examples, not the chunk (cnn.h).
    add(mul({CnnShapeFor(CnnOptionsFromParams(v.model.params, classes)).block_reals, kReal}));
  }
  if (v.model.name == "transformer") {
    // Frozen tensors (last_layer_only's embeddings and attention, a sinusoidal table): values
    // only, no gradient or optimizer state.
    OPTBENCH_ASSIGN_OR_RETURN(const TransformerOptions o,
                              TransformerOptionsFromParams(v.model.params, features, classes));
    // The last_layer_only feature cache: every row of both splits in full-batch mode; fresh
    // mini-batches fill it to its cap.
    const int64_t cached_rows = batch > 0 ? kMax : rows;
    add(mul({TransformerFrozenReals(o), kReal}));
    add(mul({TransformerFeatureCacheReals(o, cached_rows), kReal}));
  }
  // Per-class statistics (5 vectors per split) and one Evaluation (4 per split), in float64;
  // head statistics in the trainer and the Evaluation.
  add(mul({2 * (5 + 4), classes, int64_t{sizeof(double)}}));
  add(mul({2 * 7, classes, int64_t{sizeof(double)}}));
  return bytes;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
