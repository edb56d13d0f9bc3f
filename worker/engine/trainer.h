// Trainer: the training loop apart from the update rule (ALGORITHMS.md 1.3): exact full-batch
// gradients accumulated over chunks, or seeded mini-batches; the evaluation schedule; divergence
// detection; cancellation. It reports per-class statistics; run_job.cc turns them into the
// sink's Evaluation messages.
#ifndef OPTBENCH_WORKER_ENGINE_TRAINER_H_
#define OPTBENCH_WORKER_ENGINE_TRAINER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/job_spec.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/model/model.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/random.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {

// True if the trainer evaluates at `step` (0..spec.steps): step 0, every spec.eval_every steps,
// the last step, and with spec.eval_log_spaced also 1..5, 10, 20, 30, 40, 50 and 100 (paper 1's
// early checkpoints, ALGORITHMS.md 6.3). Precondition: spec.eval_every >= 1.
bool IsEvaluationStep(const TrainerSpec& spec, int64_t step);

// Mini-batch order: each epoch visits the n examples in a fresh Fisher–Yates shuffle (Durstenfeld
// 1964) of 0..n-1 drawn with Rng(seed, RngStream::kSampler); batches are consecutive slices of it,
// the last one of an epoch shorter when batch_size does not divide n (as PyTorch's DataLoader
// without drop_last). Deterministic for (n, seed). Not thread-safe.
class EpochSampler {
 public:
  // Precondition: n >= 1.
  EpochSampler(int64_t n, uint64_t seed);

  // The next batch of min(batch_size, examples left in the epoch) indices; valid until the next
  // call. Precondition: batch_size >= 1.
  absl::Span<const int64_t> Next(int64_t batch_size);

 private:
  void Shuffle();

  Rng rng_;
  std::vector<int64_t> order_;
  size_t position_ = 0;
};

inline namespace OPTBENCH_ENGINE_PRECISION {

// What the trainer reports at an evaluation step. The pointers are valid during the callback.
struct TrainerEvaluation {
  int64_t step = 0;  // Optimizer steps taken: the parameters after `step` steps.
  const ClassStats* train = nullptr;
  const ClassStats* test = nullptr;  // Null when the data set has no test split.
  double grad_norm = 0;              // ||gradient||_2 over all parameters (see Evaluation).
  // Class-row statistics of the output head (Evaluation::head_*), length num_classes; null when
  // the model has no kOutputHead slot (head_gn_trace also when it does not expose HeadInput).
  const std::vector<double>* head_grad_norm = nullptr;
  const std::vector<double>* head_gn_trace = nullptr;
  const std::vector<double>* head_weight_norm = nullptr;
  // |dL/db_k| of the output head's bias (the kVector slot whose id is the head weight's with
  // "weight" replaced by "bias"); null when there is none.
  const std::vector<double>* head_bias_grad = nullptr;
  // ||row k of W_step - W_{step-1}|| (null at the first evaluation of a run) and the row mean
  // of the optimizer's per-coordinate step sizes at learning_rate (null when it has none).
  const std::vector<double>* head_update_norm = nullptr;
  const std::vector<double>* head_eff_lr = nullptr;
  // Model::Diagnostics of the train and test splits at these parameters; test_diagnostics is null
  // when the data set has no test split.
  const std::vector<Diagnostic>* train_diagnostics = nullptr;
  const std::vector<Diagnostic>* test_diagnostics = nullptr;
  // Scheduled step size (schedule.h) of the step taken from these parameters: step + 1, or
  // spec.steps at the last evaluation.
  double learning_rate = 0;
  double wall_seconds = 0;  // Since Run started.
};

struct TrainerCallbacks {
  // Required. A non-OK status stops training and Run returns it.
  std::function<absl::Status(const TrainerEvaluation&)> on_evaluation;
  std::function<void(int64_t step)> on_step;  // Optional: after each optimizer step.
  std::function<bool()> should_stop;          // Optional: polled before each step.
  // Optional: called before each step t > the start step (Resume), t < steps unless stopping,
  // with the wall seconds so far
  // and whether should_stop just said to stop; a checkpoint of the state after t steps may be
  // taken here (the parameters and optimizer state are exactly those). A non-OK status stops
  // training and Run returns it.
  std::function<absl::Status(int64_t step, double wall_seconds, bool stopping)> at_step;
};

// Runs one job's loop. Holds pointers to the data, model and optimizer (not owned; they must
// outlive it) and owns the work buffers, allocated once in the constructor so that the loop does
// not allocate. Single-threaded and deterministic: the same inputs give bit-identical results on
// one machine. Not thread-safe.
//
// Each step t = 0..steps: compute the loss and gradient at the current parameters (full batch:
// the exact mean over the whole train split, accumulated over chunks of chunk_rows rows;
// mini-batch: the mean over the next batch); at an evaluation step report per-class statistics
// of the train split (full batch: from that same forward pass; mini-batch: a forward-only pass
// over the train split) and of the test split (forward only); then, unless t = steps, take one
// optimizer step.
//
// Divergence: when the loss, the gradient norm or an evaluated split's loss is not finite at step
// t, the run ends with kDiverged and steps_done = t. The evaluation at t is not reported (it
// would be NaN garbage); evaluations before t have been. Cancellation: should_stop() returning
// true before step t ends the run with kCancelled and steps_done = t.
//
// Run flushes denormal floats to zero on its thread (x86 MXCSR FTZ+DAZ, restored on return):
// denormal probabilities otherwise slow every GEMM down many times over once a model fits.
class Trainer {
 public:
  // `lr` is the base step size; step t uses ScheduledLearningRate(spec, lr, t) (schedule.h).
  // Preconditions (checked): `spec` passed ValidateJobSpec; batch_size <= the train split's size;
  // the model maps data->num_features() inputs to data->num_classes() outputs; lr > 0.
  // Throws std::bad_alloc if the buffers do not fit.
  Trainer(const TrainerSpec& spec, double lr, const Dataset* data, Model* model,
          Optimizer* optimizer, uint64_t seed);

  // Continue from a checkpoint: the model and optimizer already hold the state after `step`
  // steps (checkpoint.h); Run then starts at `step` and reports wall time from `wall_seconds`.
  // The mini-batch sampler is advanced by the `step` batches drawn so far, so the run goes on
  // bit-identically. Preconditions: 0 <= step <= spec.steps; before Run.
  // `state` is the SaveState(step) of the run that saved the checkpoint (the head weight before
  // the last step, for head_update_norm at `step`); an empty or unfitting one is ignored.
  void Resume(int64_t step, double wall_seconds, const OptimizerState& state);

  // What a checkpoint after `step` steps needs beside the parameters and the optimizer state:
  // the output head before step `step` was taken, when an evaluation at `step` will report the
  // update. Call between steps (from TrainerCallbacks::at_step).
  OptimizerState SaveState(int64_t step) const;

  // Trains. Returns the outcome, or the status of a failed callback.
  absl::StatusOr<RunResult> Run(const TrainerCallbacks& callbacks);

  // Building blocks of Run, public for tests.
  //
  // Sets the model's gradients to the gradient of the mean loss over the whole train split at the
  // current parameters (chunked; each chunk's dlogits are scaled by 1/n, so the sum over chunks
  // is the one-shot mean gradient). Returns the mean loss. Adds per-class statistics to `stats`
  // when not null (precondition: Reset for num_classes).
  double FullBatchGradient(ClassStats* stats);
  // Sets the model's gradients to the mean-loss gradient over the next mini-batch; returns the
  // batch's mean loss. Precondition: mini-batch mode (batch_size > 0).
  double MiniBatchGradient();
  // Forward-only pass over `split` adding per-class statistics to `stats` (precondition: Reset
  // for num_classes). Returns the summed loss. Leaves the gradients untouched.
  double Evaluate(const DataSplit& split, ClassStats* stats);
  // ||gradient||_2 over all parameters, accumulated in float64.
  double GradNorm() const;

 private:
  // Runs the model over `rows` rows of `x` in chunks; with `backward`, back-propagates
  // grad_scale * (softmax - onehot). Returns the summed loss.
  double Pass(const ConstMatrixRef& x, const int32_t* labels, bool backward, Real grad_scale,
              ClassStats* stats);

  TrainerSpec spec_;
  double lr_;
  const Dataset* data_;
  Model* model_;
  Optimizer* optimizer_;
  std::vector<ParamSlot> slots_;
  Matrix logits_;  // chunk x classes: logits, then dL/dlogits in place.
  std::optional<EpochSampler> sampler_;
  Matrix batch_x_;  // batch_size x features (mini-batch mode).
  std::vector<int32_t> batch_labels_;
  ClassStats train_stats_, test_stats_;
  // Output-head statistics, gathered by passes that fill train_stats_ (ALGORITHMS.md 6.2).
  int head_ = -1;       // Index of the kOutputHead slot in slots_, or -1.
  int head_bias_ = -1;  // Index of its bias slot, or -1.
  int64_t start_step_ = 0;
  double start_wall_seconds_ = 0;
  std::vector<double> head_bias_grad_, head_update_norm_, head_eff_lr_;
  // The head weight before the last step, kept when an evaluation follows it; its step + 1.
  Matrix head_before_, head_scratch_;
  int64_t head_before_step_ = -1;
  bool gn_trace_seen_ = false;
  std::vector<double> head_grad_norm_, head_gn_trace_, head_weight_norm_, softmax_row_;
  std::vector<Diagnostic> train_diagnostics_, test_diagnostics_;  // Of the current evaluation.
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TRAINER_H_
