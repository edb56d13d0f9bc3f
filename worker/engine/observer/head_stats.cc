#include "worker/engine/observer/head_stats.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

int FindOutputHead(const std::vector<ParamSlot>& slots) {
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].role == ParamRole::kOutputHead) return static_cast<int>(i);
  }
  return -1;
}

void RowNorms(const Matrix& m, std::vector<double>* norms) {
  norms->resize(static_cast<size_t>(m.rows()));
  for (Eigen::Index k = 0; k < m.rows(); ++k) {
    (*norms)[static_cast<size_t>(k)] = std::sqrt(m.row(k).template cast<double>().squaredNorm());
  }
}

HeadStatsObserver::HeadStatsObserver(const std::vector<ParamSlot>& slots, int64_t num_classes)
    : slots_(slots), head_(FindOutputHead(slots)) {
  if (head_ < 0) return;
  const size_t c = static_cast<size_t>(num_classes);
  grad_norm_.resize(c);
  gn_trace_.resize(c);
  weight_norm_.resize(c);
  std::string bias_id = slots_[head_].id;
  if (const size_t at = bias_id.rfind("weight"); at != std::string::npos) {
    bias_id.replace(at, 6, "bias");
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].id == bias_id && slots_[i].value->rows() == num_classes &&
          slots_[i].value->cols() == 1) {
        head_bias_ = static_cast<int>(i);
        bias_grad_.resize(c);
      }
    }
  }
}

std::vector<spec::MetricSpec> HeadStatsObserver::Metrics() {
  using spec::Aggregate;
  using spec::MetricSplits;
  auto per_class = [](const char* name, const char* doc) {
    return spec::PerClassMetric(name, MetricSplits::kTrain, Aggregate::kClassMean, doc);
  };
  return {
      per_class("head_grad_norm", "||row k of the output layer's gradient|| (ALGORITHMS 6.2)"),
      per_class("head_gn_trace",
                "trace of the Gauss-Newton block of row k: (1/n) sum_i p_ik (1 - p_ik) ||h_i||^2"),
      per_class("head_weight_norm", "||row k of the output layer's weight||"),
      per_class("head_bias_grad", "|dL/db_k| of the output layer's bias"),
      per_class("head_update_norm", "||row k of W_t - W_{t-1}||: the last step's update"),
      per_class("head_eff_lr",
                "mean over row k of the optimizer's per-coordinate step size (Adam-like rules)"),
  };
}

void HeadStatsObserver::Declare(std::vector<spec::MetricSpec>* out) const {
  if (head_ < 0) return;
  for (spec::MetricSpec& m : Metrics()) {
    if (m.name == "head_bias_grad" && head_bias_ < 0) continue;
    out->push_back(std::move(m));
  }
}

void HeadStatsObserver::BeginTrainPass() {
  std::fill(gn_trace_.begin(), gn_trace_.end(), 0.0);
  gn_trace_seen_ = false;
}

const CurvatureRequest* HeadStatsObserver::OnTrainChunk(const ConstMatrixRef& outputs,
                                                        const Model& model) {
  if (head_ < 0) return nullptr;
  const std::optional<ConstMatrixRef> h = model.HeadInput();
  if (!h.has_value()) return nullptr;
  OPTBENCH_CHECK(h->rows() == outputs.rows());
  // Grows to the largest chunk once (the first: the trainer never makes a later one longer).
  if (head_sq_norms_.size() < static_cast<size_t>(h->rows())) {
    head_sq_norms_.resize(static_cast<size_t>(h->rows()));
  }
  for (Eigen::Index i = 0; i < h->rows(); ++i) {
    head_sq_norms_[static_cast<size_t>(i)] = h->row(i).template cast<double>().squaredNorm();
  }
  gn_trace_seen_ = true;
  curvature_ = {head_sq_norms_.data(), gn_trace_.data()};
  return &curvature_;
}

void HeadStatsObserver::Evaluate(const EvaluationContext& ctx, MetricBatch* out) {
  if (head_ < 0) return;
  const Split train = Split::kTrain;
  RowNorms(*slots_[head_].grad, &grad_norm_);
  RowNorms(*slots_[head_].value, &weight_norm_);
  out->Add("head_grad_norm", train, grad_norm_);
  if (gn_trace_seen_) {
    const double n = static_cast<double>(ctx.train_outputs);
    for (double& t : gn_trace_) t /= n;
    out->Add("head_gn_trace", train, gn_trace_);
  }
  out->Add("head_weight_norm", train, weight_norm_);
  if (head_bias_ >= 0) {
    const Matrix& g = *slots_[head_bias_].grad;
    for (size_t k = 0; k < bias_grad_.size(); ++k) {
      bias_grad_[k] = std::abs(static_cast<double>(g(static_cast<Eigen::Index>(k), 0)));
    }
    out->Add("head_bias_grad", train, bias_grad_);
  }
  if (head_before_step_ == ctx.step) {
    head_scratch_ = *slots_[head_].value - head_before_;
    RowNorms(head_scratch_, &update_norm_);
    out->Add("head_update_norm", train, update_norm_);
  }
  if (ctx.optimizer->EffectiveStepSizes(slots_[head_], ctx.learning_rate, &head_scratch_)) {
    eff_lr_.resize(static_cast<size_t>(head_scratch_.rows()));
    for (Eigen::Index k = 0; k < head_scratch_.rows(); ++k) {
      eff_lr_[static_cast<size_t>(k)] = head_scratch_.row(k).template cast<double>().mean();
    }
    out->Add("head_eff_lr", train, eff_lr_);
  }
}

void HeadStatsObserver::BeforeStep(int64_t step, bool evaluated_next) {
  if (head_ < 0 || !evaluated_next) return;
  head_before_ = *slots_[head_].value;
  head_before_step_ = step + 1;
}

void HeadStatsObserver::SaveState(int64_t step, OptimizerState* state) const {
  if (head_ >= 0 && head_before_step_ == step) {
    state->tensors["head"].emplace("before", head_before_);
  }
}

void HeadStatsObserver::RestoreState(int64_t step, const OptimizerState& state) {
  if (head_ < 0) return;
  auto head = state.tensors.find("head");
  if (head == state.tensors.end()) return;
  auto before = head->second.find("before");
  if (before != head->second.end() && before->second.rows() == slots_[head_].value->rows() &&
      before->second.cols() == slots_[head_].value->cols()) {
    head_before_ = before->second;
    head_before_step_ = step;
  }
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
