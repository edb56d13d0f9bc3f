// Trainer: the training loop apart from the update rule (ALGORITHMS.md 1.3), the objective and
// the observers: exact full-batch gradients accumulated over chunks, or seeded mini-batches; the
// evaluation schedule; divergence detection; cancellation. Each evaluation is one MetricBatch of
// declared metrics.
#ifndef OPTBENCH_WORKER_ENGINE_TRAINER_H_
#define OPTBENCH_WORKER_ENGINE_TRAINER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "spec/metric.h"
#include "worker/engine/attack.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/loss/softmax_cross_entropy.h"
#include "worker/engine/model/model.h"
#include "worker/engine/objective/objective.h"
#include "worker/engine/observer/observer.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/random.h"
#include "worker/engine/run_sink.h"
#include "worker/engine/trainer_spec.h"

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
  double grad_norm = 0;              // ||gradient||_2 over all parameters (full batch or the
                                     // mini-batch).
  // Scheduled step size (schedule.h) of the step taken from these parameters: step + 1, or
  // spec.steps at the last evaluation.
  double learning_rate = 0;
  double wall_seconds = 0;  // Since Run started (plus the resumed run's).
  // Everything the evaluation reports, as declared metrics: the objective's per-split
  // statistics, grad_norm, lr, wall_seconds, and every observer's.
  const MetricBatch* metrics = nullptr;
};

struct TrainerCallbacks {
  // Required. A non-OK status stops training and Run returns it.
  std::function<absl::Status(const TrainerEvaluation&)> on_evaluation;
  std::function<void(int64_t step)> on_step;  // Optional: after each optimizer step.
  std::function<bool()> should_stop;          // Optional: polled before each step.
  // Optional: called before each step t > the start step (Resume), t < steps unless stopping,
  // with the wall seconds so far and whether should_stop just said to stop; a checkpoint of the
  // state after t steps may be taken here (the parameters and optimizer state are exactly
  // those). A non-OK status stops training and Run returns it.
  std::function<absl::Status(int64_t step, double wall_seconds, bool stopping)> at_step;
};

// What the loop minimizes and observes. Null objective = CrossEntropy; `observers` are called in
// order (the train task passes the head statistics and the model's diagnostics; none by
// default).
struct TrainerParts {
  std::unique_ptr<Objective> objective;
  std::vector<std::unique_ptr<Observer>> observers;
};

// The metrics the loop itself reports (grad_norm, lr, wall_seconds).
std::vector<spec::MetricSpec> TrainerMetrics();

// Runs one job's loop: the loop apart from what it optimizes (the Objective) and what it
// observes (Observers). Holds pointers to the data, model and optimizer (not owned; they must
// outlive it) and owns the objective, the observers and the work buffers, allocated once in the
// constructor so that the loop does not allocate. Single-threaded and deterministic: the same
// inputs give bit-identical results on one machine. Not thread-safe.
//
// Each step t = 0..steps: compute the loss and gradient at the current parameters (full batch:
// the exact mean over every target of the train split, accumulated over chunks of at most
// chunk_rows output rows; mini-batch: the mean over the next batch); at an evaluation step report
// the objective's per-class statistics of the train split (full batch: from that same pass;
// mini-batch: a forward-only pass over the train split) and of the test split (forward only),
// then the observers'; then, unless t = steps, take one optimizer step.
//
// Adversarial training (spec.adversarial fgsm or pgd, ALGORITHMS.md 4.6): the loss and gradient
// of step t are those of the attacked examples (attack.h; each chunk of the train split or the
// batch attacked at the current parameters, PGD's random starts from AttackRng(seed, t,
// kTraining)) in place of the clean ones; the evaluated per-class statistics stay those of the
// clean train split (a forward-only pass, as in mini-batch mode). With spec.attack_epsilon > 0
// the trainer adds a RobustnessObserver (observer/robustness.h) after the given observers.
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
  // Preconditions (checked): `spec` passed validation; batch_size <= the train split's size;
  // the model maps data->num_features() inputs to data->num_classes() outputs, with
  // parts.objective->outputs_per_example() output rows per example; lr > 0. When
  // TrainerAttacks(spec): one output row per example, and the model implements InputGradient
  // (the first attack aborts otherwise; the train task refuses such a job at validation).
  // Throws std::bad_alloc if the buffers do not fit.
  Trainer(const TrainerSpec& spec, double lr, const Dataset* data, Model* model,
          Optimizer* optimizer, uint64_t seed, TrainerParts parts = {});

  // Continue from a checkpoint: the model and optimizer already hold the state after `step`
  // steps (checkpoint.h); Run then starts at `step` and reports wall time from `wall_seconds`.
  // The mini-batch sampler is advanced by the `step` batches drawn so far, so the run goes on
  // bit-identically. Preconditions: 0 <= step <= spec.steps; before Run.
  // `state` is the SaveState(step) of the run that saved the checkpoint (the observers' state);
  // an empty or unfitting one is ignored.
  void Resume(int64_t step, double wall_seconds, const OptimizerState& state);

  // What a checkpoint after `step` steps needs beside the parameters and the optimizer state:
  // the observers' state. Call between steps (from TrainerCallbacks::at_step).
  OptimizerState SaveState(int64_t step) const;

  // The metrics this run will report: the objective's, the loop's and the observers'.
  std::vector<spec::MetricSpec> Metrics() const;
  // Targets per class of each split (the objective's: examples, or every position).
  std::vector<int64_t> TargetCounts(const DataSplit& split) const;

  // Trains. Returns the outcome, or the status of a failed callback.
  absl::StatusOr<RunResult> Run(const TrainerCallbacks& callbacks);

  // Building blocks of Run, public for tests.
  //
  // Sets the model's gradients to the gradient of the mean loss over every target of the train
  // split at the current parameters (chunked; each chunk's output gradients are scaled by 1/N
  // for N targets, so the sum over chunks is the one-shot mean gradient). Returns the mean loss.
  // Adds per-class statistics to `stats` when not null (precondition: Reset for num_classes).
  // With adversarial training, of the attacked examples (the statistics too), drawing PGD's
  // starts from the current step's generator (Run sets it; step 0's before Run).
  double FullBatchGradient(ClassStats* stats);
  // Sets the model's gradients to the mean-loss gradient over the next mini-batch (attacked
  // with adversarial training); returns the batch's mean loss. Precondition: mini-batch mode
  // (batch_size > 0).
  double MiniBatchGradient();
  // Forward-only pass over `split` adding per-class statistics to `stats` (precondition: Reset
  // for num_classes). Returns the summed loss. Leaves the gradients untouched.
  double Evaluate(const DataSplit& split, ClassStats* stats);
  // ||gradient||_2 over all parameters, accumulated in float64.
  double GradNorm() const;

 private:
  // Runs the model over the examples of `x` in chunks (with `backward` and adversarial
  // training, over each chunk's attack); with `backward`, back-propagates grad_scale times the
  // objective's gradient; tells the observers about the chunks of a train statistics pass.
  // Returns the summed loss.
  double Pass(const ConstMatrixRef& x, const int32_t* labels, bool backward, Real grad_scale,
              ClassStats* stats);

  TrainerSpec spec_;
  double lr_;
  const Dataset* data_;
  Model* model_;
  Optimizer* optimizer_;
  std::unique_ptr<Objective> objective_;
  std::vector<std::unique_ptr<Observer>> observers_;
  int64_t outputs_per_example_;
  std::vector<ParamSlot> slots_;
  Matrix logits_;  // chunk x outputs_per_example rows x classes: outputs, then their gradient.
  std::optional<EpochSampler> sampler_;
  Matrix batch_x_;  // batch_size x features (mini-batch mode).
  std::vector<int32_t> batch_labels_;
  uint64_t seed_;
  // Adversarial training: the attack, a chunk's attacked examples, and the generator of the
  // current step's random starts.
  std::optional<Attacker> attacker_;
  Matrix attacked_;
  Rng attack_rng_;
  ClassStats train_stats_, test_stats_;
  int64_t start_step_ = 0;
  double start_wall_seconds_ = 0;
  MetricBatch batch_;  // The current evaluation's metrics.
};

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_TRAINER_H_
