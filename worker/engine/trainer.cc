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
#include "worker/engine/model/head_stats.h"
#include "worker/engine/params.h"
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

}  // namespace

inline namespace OPTBENCH_ENGINE_PRECISION {

Trainer::Trainer(const TrainerSpec& spec, double lr, const Dataset* data, Model* model,
                 Optimizer* optimizer, uint64_t seed)
    : spec_(spec),
      lr_(lr),
      data_(data),
      model_(model),
      optimizer_(optimizer),
      slots_(model->Params()) {
  OPTBENCH_CHECK(spec.steps >= 1 && spec.batch_size >= 0 && spec.chunk_rows >= 1 &&
                 spec.eval_every >= 1);
  OPTBENCH_CHECK(lr > 0);
  OPTBENCH_CHECK(model->num_inputs() == data->num_features() &&
                 model->num_outputs() == data->num_classes());
  const int64_t n = data->train().size();
  OPTBENCH_CHECK(spec.batch_size <= n);
  // The longest pass: the train split (full batch or evaluation), the test split, or a batch.
  int64_t longest = n;
  if (data->has_test()) longest = std::max(longest, data->test().size());
  logits_.resize(std::min(spec.chunk_rows, longest), data->num_classes());
  if (spec.batch_size > 0) {
    sampler_.emplace(n, seed);
    batch_x_.resize(spec.batch_size, data->num_features());
    batch_labels_.resize(static_cast<size_t>(spec.batch_size));
  }
  train_stats_.Reset(data->num_classes());
  if (data->has_test()) test_stats_.Reset(data->num_classes());
  head_ = FindOutputHead(slots_);
  if (head_ >= 0) {
    const size_t c = static_cast<size_t>(data->num_classes());
    head_grad_norm_.resize(c);
    head_gn_trace_.resize(c);
    head_weight_norm_.resize(c);
    softmax_row_.resize(c);
    std::string bias_id = slots_[head_].id;
    if (const size_t at = bias_id.rfind("weight"); at != std::string::npos) {
      bias_id.replace(at, 6, "bias");
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].id == bias_id && slots_[i].value->rows() == data->num_classes() &&
            slots_[i].value->cols() == 1) {
          head_bias_ = static_cast<int>(i);
          head_bias_grad_.resize(c);
        }
      }
    }
  }
}

OptimizerState Trainer::SaveState(int64_t step) const {
  OptimizerState state;
  state.step = step;
  if (head_ >= 0 && head_before_step_ == step)
    state.tensors["head"].emplace("before", head_before_);
  return state;
}

void Trainer::Resume(int64_t step, double wall_seconds, const OptimizerState& state) {
  OPTBENCH_CHECK(step >= 0 && step <= spec_.steps);
  start_step_ = step;
  start_wall_seconds_ = wall_seconds;
  if (head_ >= 0 && state.step == step) {
    if (auto head = state.tensors.find("head"); head != state.tensors.end()) {
      if (auto before = head->second.find("before");
          before != head->second.end() && before->second.rows() == slots_[head_].value->rows() &&
          before->second.cols() == slots_[head_].value->cols()) {
        head_before_ = before->second;
        head_before_step_ = step;
      }
    }
  }
  // Step t drew batch t (steps 0..t-1 are done): replay their draws.
  if (sampler_.has_value()) {
    for (int64_t t = 0; t < step; ++t) sampler_->Next(spec_.batch_size);
  }
}

double Trainer::Pass(const ConstMatrixRef& x, const int32_t* labels, bool backward, Real grad_scale,
                     ClassStats* stats) {
  const Eigen::Index n = x.rows();
  double loss = 0;
  for (Eigen::Index start = 0; start < n; start += logits_.rows()) {
    const Eigen::Index rows = std::min<Eigen::Index>(logits_.rows(), n - start);
    auto logits = logits_.topRows(rows);
    model_->Forward(x.middleRows(start, rows), logits);
    if (head_ >= 0 && stats == &train_stats_) {
      if (const std::optional<ConstMatrixRef> h = model_->HeadInput()) {
        AddGaussNewtonTrace(logits, *h, head_gn_trace_.data(), &softmax_row_);
        gn_trace_seen_ = true;
      }
    }
    loss += SoftmaxCrossEntropy(logits, labels + start, grad_scale, stats);
    if (backward) model_->Backward(logits);
  }
  return loss;
}

double Trainer::FullBatchGradient(ClassStats* stats) {
  const DataSplit& train = data_->train();
  const double n = static_cast<double>(train.size());
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
  const double bd = static_cast<double>(b);
  return Pass(batch_x_.topRows(b), batch_labels_.data(), /*backward=*/true,
              static_cast<Real>(1.0 / bd), nullptr) /
         bd;
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
      std::fill(head_gn_trace_.begin(), head_gn_trace_.end(), 0.0);
      gn_trace_seen_ = false;
    }
    double train_eval_loss = 0;  // Finite unless a forward-only train pass says otherwise.
    double loss;
    if (full_batch) {
      loss = FullBatchGradient(evaluate ? &train_stats_ : nullptr);
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
          absl::StrCat("diverged: ", what, " is ", FormatDouble(value), " after ", step,
                       " steps (lr ", FormatDouble(lr_), "); last evaluation reported: ",
                       last_reported >= 0 ? absl::StrCat("step ", last_reported) : "none")};
    }
    if (evaluate) {
      TrainerEvaluation eval;
      eval.step = step;
      eval.train = &train_stats_;
      eval.test = data_->has_test() ? &test_stats_ : nullptr;
      eval.grad_norm = grad_norm;
      if (head_ >= 0) {
        RowNorms(*slots_[head_].grad, &head_grad_norm_);
        RowNorms(*slots_[head_].value, &head_weight_norm_);
        const double n = static_cast<double>(data_->train().size());
        for (double& t : head_gn_trace_) t /= n;
        eval.head_grad_norm = &head_grad_norm_;
        eval.head_gn_trace = gn_trace_seen_ ? &head_gn_trace_ : nullptr;
        eval.head_weight_norm = &head_weight_norm_;
        if (head_bias_ >= 0) {
          const Matrix& g = *slots_[head_bias_].grad;
          for (size_t k = 0; k < head_bias_grad_.size(); ++k) {
            head_bias_grad_[k] = std::abs(static_cast<double>(g(static_cast<Eigen::Index>(k), 0)));
          }
          eval.head_bias_grad = &head_bias_grad_;
        }
        if (head_before_step_ == step) {
          head_scratch_ = *slots_[head_].value - head_before_;
          RowNorms(head_scratch_, &head_update_norm_);
          eval.head_update_norm = &head_update_norm_;
        }
        if (optimizer_->EffectiveStepSizes(
                slots_[head_], ScheduledLearningRate(spec_, lr_, std::min(step + 1, spec_.steps)),
                &head_scratch_)) {
          head_eff_lr_.resize(static_cast<size_t>(head_scratch_.rows()));
          for (Eigen::Index k = 0; k < head_scratch_.rows(); ++k) {
            head_eff_lr_[static_cast<size_t>(k)] =
                head_scratch_.row(k).template cast<double>().mean();
          }
          eval.head_eff_lr = &head_eff_lr_;
        }
      }
      // After the trainer's own passes (Diagnostics may run forward passes of its own); the
      // gradients it leaves untouched are those of the step below.
      const DataSplit& train = data_->train();
      train_diagnostics_.clear();
      model_->Diagnostics(train.features, train.labels, num_classes, &train_diagnostics_);
      eval.train_diagnostics = &train_diagnostics_;
      if (data_->has_test()) {
        const DataSplit& test = data_->test();
        test_diagnostics_.clear();
        model_->Diagnostics(test.features, test.labels, num_classes, &test_diagnostics_);
        eval.test_diagnostics = &test_diagnostics_;
      }
      // The step size of the update taken from these parameters (the last one's at the end).
      eval.learning_rate = ScheduledLearningRate(spec_, lr_, std::min(step + 1, spec_.steps));
      eval.wall_seconds = elapsed();
      if (absl::Status s = callbacks.on_evaluation(eval); !s.ok()) return s;
      last_reported = step;
    }
    if (step == spec_.steps) break;
    if (head_ >= 0 && IsEvaluationStep(spec_, step + 1)) {
      head_before_ = *slots_[head_].value;
      head_before_step_ = step + 1;
    }
    optimizer_->Step(slots_, ScheduledLearningRate(spec_, lr_, step + 1));
    if (callbacks.on_step) callbacks.on_step(step + 1);
  }
  return RunResult{RunOutcome::kCompleted, spec_.steps, ""};
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
