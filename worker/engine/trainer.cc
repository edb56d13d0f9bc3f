#include "worker/engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <utility>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/observer/robustness.h"
#include "worker/engine/schedule.h"

namespace optbench::engine {

bool IsEvaluationStep(const TrainerSpec& spec, int64_t step) {
  OPTBENCH_CHECK(spec.eval_every >= 1);
  if (step == 0 || step == spec.steps || step % spec.eval_every == 0) return true;
  if (!spec.eval_log_spaced) return false;
  return step <= 5 || step == 10 || step == 20 || step == 30 || step == 40 || step == 50 ||
         step == 100;
}

EpochSampler::EpochSampler(int64_t n, uint64_t seed)
    : rng_(seed, RngStream::kSampler), order_(static_cast<size_t>(n)) {
  OPTBENCH_CHECK(n >= 1);
  Shuffle();
}

void EpochSampler::Shuffle() {
  std::iota(order_.begin(), order_.end(), int64_t{0});
  for (size_t i = order_.size() - 1; i > 0; --i) {
    std::swap(order_[i], order_[rng_.UniformInt(i + 1)]);
  }
  position_ = 0;
}

absl::Span<const int64_t> EpochSampler::Next(int64_t batch_size) {
  OPTBENCH_CHECK(batch_size >= 1);
  if (position_ == order_.size()) Shuffle();
  const size_t count = std::min(static_cast<size_t>(batch_size), order_.size() - position_);
  absl::Span<const int64_t> batch(order_.data() + position_, count);
  position_ += count;
  return batch;
}

namespace {

// Flushes denormal results to zero and reads denormal inputs as zero (MXCSR FTZ and DAZ) on this
// thread while alive, restoring the previous mode after. Without it, once some probabilities
// underflow (exp of a very negative logit is about 1e-38 in float32) every GEMM that touches
// them runs 20-50x slower on x86. No other platform is targeted yet: elsewhere it does nothing.
class ScopedFlushDenormals {
 public:
#if defined(__SSE__)
  ScopedFlushDenormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
  }
  ~ScopedFlushDenormals() { _mm_setcsr(saved_); }
#else
  ScopedFlushDenormals() = default;
#endif
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
#if defined(__SSE__)
  static constexpr unsigned kFlushToZero = 0x8000;
  static constexpr unsigned kDenormalsAreZero = 0x0040;
  unsigned saved_;
#endif
};

// The attacks the settings ask for (precondition: they passed validation).
AttackOptions TrainingAttack(const TrainerSpec& spec) {
  AttackOptions o;
  o.method = spec.adversarial == AttackMethodName(AttackMethod::kFgsm) ? AttackMethod::kFgsm
                                                                       : AttackMethod::kPgd;
  o.epsilon = spec.adversarial_epsilon;
  o.steps = spec.adversarial_steps;
  o.step_size = spec.adversarial_step_size;
  return o;
}

AttackOptions EvaluationAttack(const TrainerSpec& spec, AttackMethod method) {
  return EvaluationAttackOptions(method, spec.attack_epsilon, spec.attack_pgd_steps);
}

}  // namespace

inline namespace OPTBENCH_ENGINE_PRECISION {

std::vector<spec::MetricSpec> TrainerMetrics() {
  using spec::MetricSplits;
  return {
      spec::ScalarMetric("grad_norm", MetricSplits::kTrain,
                         "||gradient||_2 over all parameters (full batch, or the mini-batch)"),
      spec::ScalarMetric("lr", MetricSplits::kTrain,
                         "the scheduled step size of the step taken from these parameters"),
      spec::ScalarMetric(spec::kWallSecondsMetric, MetricSplits::kTrain,
                         "training time so far (excludes loading the data)"),
  };
}

Trainer::Trainer(const TrainerSpec& spec, double lr, const Dataset* data, Model* model,
                 Optimizer* optimizer, uint64_t seed, TrainerParts parts)
    : spec_(spec),
      lr_(lr),
      data_(data),
      model_(model),
      optimizer_(optimizer),
      objective_(parts.objective != nullptr ? std::move(parts.objective)
                                            : std::make_unique<CrossEntropy>()),
      observers_(std::move(parts.observers)),
      outputs_per_example_(objective_->outputs_per_example()),
      slots_(model->Params()),
      seed_(seed),
      attack_rng_(AttackRng(seed, 0, AttackUse::kTraining)) {
  OPTBENCH_CHECK(spec.steps >= 1 && spec.batch_size >= 0 && spec.chunk_rows >= 1 &&
                 spec.eval_every >= 1);
  OPTBENCH_CHECK(lr > 0);
  EnsureGemmThreads();
  OPTBENCH_CHECK(model->num_inputs() == data->num_features() &&
                 model->num_outputs() == data->num_classes());
  const int64_t n = data->train().size();
  OPTBENCH_CHECK(spec.batch_size <= n);
  // The longest pass: the train split (full batch or evaluation), the test split, or a batch;
  // chunks hold at most chunk_rows output rows (at least one example).
  int64_t longest = n;
  if (data->has_test()) longest = std::max(longest, data->test().size());
  const int64_t chunk = std::max<int64_t>(1, spec.chunk_rows / outputs_per_example_);
  logits_.resize(std::min(chunk, longest) * outputs_per_example_, data->num_classes());
  if (spec.batch_size > 0) {
    sampler_.emplace(n, seed);
    batch_x_.resize(spec.batch_size, data->num_features());
    batch_labels_.resize(static_cast<size_t>(spec.batch_size));
  }
  train_stats_.Reset(data->num_classes());
  if (data->has_test()) test_stats_.Reset(data->num_classes());
  if (TrainerAttacks(spec)) OPTBENCH_CHECK(outputs_per_example_ == 1);
  if (spec.adversarial != kNoAdversarial) {
    attacker_.emplace(TrainingAttack(spec), model, objective_.get());
    attacked_.resize(logits_.rows(), data->num_features());
  }
  if (spec.attack_epsilon > 0) {
    observers_.push_back(std::make_unique<RobustnessObserver>(
        EvaluationAttack(spec, AttackMethod::kFgsm), EvaluationAttack(spec, AttackMethod::kPgd),
        objective_.get(), logits_.rows(), seed));
  }
}

std::vector<spec::MetricSpec> Trainer::Metrics() const {
  std::vector<spec::MetricSpec> out;
  // The objective's metrics come from its declaration; only the splits the data has apply.
  for (spec::MetricSpec& m : TrainerMetrics()) out.push_back(std::move(m));
  for (const auto& observer : observers_) observer->Declare(&out);
  return out;
}

std::vector<int64_t> Trainer::TargetCounts(const DataSplit& split) const {
  std::vector<int64_t> counts(static_cast<size_t>(data_->num_classes()), 0);
  objective_->CountTargets(split, &counts);
  return counts;
}

OptimizerState Trainer::SaveState(int64_t step) const {
  OptimizerState state;
  state.step = step;
  for (const auto& observer : observers_) observer->SaveState(step, &state);
  return state;
}

void Trainer::Resume(int64_t step, double wall_seconds, const OptimizerState& state) {
  OPTBENCH_CHECK(step >= 0 && step <= spec_.steps);
  start_step_ = step;
  start_wall_seconds_ = wall_seconds;
  if (state.step == step) {
    for (const auto& observer : observers_) observer->RestoreState(step, state);
  }
  // Step t drew batch t (steps 0..t-1 are done): replay their draws.
  if (sampler_.has_value()) {
    for (int64_t t = 0; t < step; ++t) sampler_->Next(spec_.batch_size);
  }
}

double Trainer::Pass(const ConstMatrixRef& x, const int32_t* labels, bool backward, Real grad_scale,
                     ClassStats* stats) {
  const Eigen::Index n = x.rows();
  const Eigen::Index chunk = logits_.rows() / outputs_per_example_;
  const bool observed = stats == &train_stats_;
  double loss = 0;
  for (Eigen::Index start = 0; start < n; start += chunk) {
    const Eigen::Index rows = std::min<Eigen::Index>(chunk, n - start);
    auto logits = logits_.topRows(rows * outputs_per_example_);
    const bool attack = backward && attacker_.has_value();
    if (attack) {
      // Train on the attack of the chunk; it stays in attacked_ until Backward (Model::Forward).
      attacker_->Perturb(x.middleRows(start, rows), labels + start, &attack_rng_,
                         attacked_.topRows(rows));
    }
    const ConstMatrixRef xs = attack ? ConstMatrixRef(attacked_.topRows(rows))
                                     : ConstMatrixRef(x.middleRows(start, rows));
    model_->Forward(xs, logits);
    const CurvatureRequest* curvature = nullptr;
    if (observed) {
      for (const auto& observer : observers_) {
        if (const CurvatureRequest* asked = observer->OnTrainChunk(logits, *model_)) {
          OPTBENCH_CHECK(curvature == nullptr);  // One observer asks (observer.h).
          curvature = asked;
        }
      }
    }
    loss += objective_->Evaluate(xs, labels + start, logits, grad_scale, stats, curvature);
    if (backward) model_->Backward(logits);
  }
  return loss;
}

double Trainer::FullBatchGradient(ClassStats* stats) {
  const DataSplit& train = data_->train();
  const double n = static_cast<double>(train.size() * outputs_per_example_);
  model_->ZeroGrad();
  return Pass(train.features, train.labels.data(), /*backward=*/true, static_cast<Real>(1.0 / n),
              stats) /
         n;
}

double Trainer::MiniBatchGradient() {
  OPTBENCH_CHECK(sampler_.has_value());
  const DataSplit& train = data_->train();
  const absl::Span<const int64_t> batch = sampler_->Next(spec_.batch_size);
  const Eigen::Index b = static_cast<Eigen::Index>(batch.size());
  for (Eigen::Index i = 0; i < b; ++i) {
    batch_x_.row(i) = train.features.row(batch[i]);
    batch_labels_[i] = train.labels[batch[i]];
  }
  model_->ZeroGrad();
  const double targets = static_cast<double>(b * outputs_per_example_);
  return Pass(batch_x_.topRows(b), batch_labels_.data(), /*backward=*/true,
              static_cast<Real>(1.0 / targets), nullptr) /
         targets;
}

double Trainer::Evaluate(const DataSplit& split, ClassStats* stats) {
  return Pass(split.features, split.labels.data(), /*backward=*/false, Real{0}, stats);
}

double Trainer::GradNorm() const {
  double squared = 0;
  for (const ParamSlot& slot : slots_) squared += slot.grad->template cast<double>().squaredNorm();
  return std::sqrt(squared);
}

absl::StatusOr<RunResult> Trainer::Run(const TrainerCallbacks& callbacks) {
  OPTBENCH_CHECK(callbacks.on_evaluation != nullptr);
  const ScopedFlushDenormals flush_denormals;
  const auto start = std::chrono::steady_clock::now();
  const int64_t num_classes = data_->num_classes();
  const bool full_batch = spec_.batch_size == 0;
  int64_t last_reported = start_step_ > 0 ? start_step_ - 1 : -1;  // Before a resume: earlier.
  auto elapsed = [&] {
    return start_wall_seconds_ +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (int64_t step = start_step_;; ++step) {
    const bool stop = callbacks.should_stop && callbacks.should_stop();
    // No checkpoint just before the final evaluation unless stopping there: the job is all but
    // done, and its checkpoints are dropped when it ends.
    if (callbacks.at_step && step > start_step_ && (step < spec_.steps || stop)) {
      if (absl::Status s = callbacks.at_step(step, elapsed(), stop); !s.ok()) return s;
    }
    if (stop) {
      return RunResult{RunOutcome::kCancelled, step,
                       absl::StrCat("cancelled after ", step, " of ", spec_.steps, " steps")};
    }
    const bool evaluate = IsEvaluationStep(spec_, step);
    if (evaluate) {
      train_stats_.Reset(num_classes);
      for (const auto& observer : observers_) observer->BeginTrainPass();
    }
    double train_eval_loss = 0;  // Finite unless a forward-only train pass says otherwise.
    double loss;
    if (attacker_.has_value()) attack_rng_ = AttackRng(seed_, step, AttackUse::kTraining);
    if (full_batch && !attacker_.has_value()) {
      loss = FullBatchGradient(evaluate ? &train_stats_ : nullptr);
    } else if (full_batch) {
      // The gradient pass sees attacked examples; the reported statistics are the clean ones.
      if (evaluate) train_eval_loss = Evaluate(data_->train(), &train_stats_);
      loss = FullBatchGradient(nullptr);
    } else {
      if (evaluate) train_eval_loss = Evaluate(data_->train(), &train_stats_);
      loss = MiniBatchGradient();
    }
    const double grad_norm = GradNorm();
    double test_loss = 0;
    if (evaluate && data_->has_test() && std::isfinite(loss) && std::isfinite(grad_norm)) {
      test_stats_.Reset(num_classes);
      test_loss = Evaluate(data_->test(), &test_stats_);
    }
    if (!std::isfinite(loss) || !std::isfinite(grad_norm) || !std::isfinite(train_eval_loss) ||
        !std::isfinite(test_loss)) {
      const char* what = !std::isfinite(loss)              ? "training loss"
                         : !std::isfinite(grad_norm)       ? "gradient norm"
                         : !std::isfinite(train_eval_loss) ? "train-split evaluation loss"
                                                           : "test-split loss";
      const double value = !std::isfinite(loss)              ? loss
                           : !std::isfinite(grad_norm)       ? grad_norm
                           : !std::isfinite(train_eval_loss) ? train_eval_loss
                                                             : test_loss;
      return RunResult{
          RunOutcome::kDiverged, step,
          absl::StrCat("diverged: ", what, " is ", spec::FormatDouble(value), " after ", step,
                       " steps (lr ", spec::FormatDouble(lr_), "); last evaluation reported: ",
                       last_reported >= 0 ? absl::StrCat("step ", last_reported) : "none")};
    }
    if (evaluate) {
      // The step size of the update taken from these parameters (the last one's at the end).
      const double learning_rate =
          ScheduledLearningRate(spec_, lr_, std::min(step + 1, spec_.steps));
      batch_.step = step;
      batch_.values.clear();
      objective_->Report(train_stats_, Split::kTrain, &batch_);
      if (data_->has_test()) objective_->Report(test_stats_, Split::kTest, &batch_);
      EvaluationContext context;
      context.step = step;
      context.learning_rate = learning_rate;
      context.train_outputs = data_->train().size() * outputs_per_example_;
      context.data = data_;
      context.model = model_;
      context.optimizer = optimizer_;
      context.slots = &slots_;
      for (const auto& observer : observers_) observer->Evaluate(context, &batch_);
      TrainerEvaluation eval;
      eval.step = step;
      eval.train = &train_stats_;
      eval.test = data_->has_test() ? &test_stats_ : nullptr;
      eval.grad_norm = grad_norm;
      eval.learning_rate = learning_rate;
      eval.wall_seconds = elapsed();
      batch_.Add("grad_norm", Split::kTrain, {grad_norm});
      batch_.Add("lr", Split::kTrain, {learning_rate});
      batch_.Add(spec::kWallSecondsMetric, Split::kTrain, {eval.wall_seconds});
      eval.metrics = &batch_;
      if (absl::Status s = callbacks.on_evaluation(eval); !s.ok()) return s;
      last_reported = step;
    }
    if (step == spec_.steps) break;
    const bool evaluated_next = IsEvaluationStep(spec_, step + 1);
    for (const auto& observer : observers_) observer->BeforeStep(step, evaluated_next);
    optimizer_->Step(slots_, ScheduledLearningRate(spec_, lr_, step + 1));
    if (callbacks.on_step) callbacks.on_step(step + 1);
  }
  return RunResult{RunOutcome::kCompleted, spec_.steps, ""};
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
