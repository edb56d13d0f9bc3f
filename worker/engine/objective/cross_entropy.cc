#include "worker/engine/objective/cross_entropy.h"

#include <utility>

#include "common/check.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

using spec::Aggregate;
using spec::MetricSplits;

// What both cross-entropy objectives report per split (ALGORITHMS.md 6.1). Per-class sums are
// stored, never means, so that any grouping of classes is exact after the fact.
std::vector<spec::MetricSpec> CrossEntropyMetrics() {
  spec::MetricSpec loss =
      spec::Renamed(spec::PerClassMetric("loss_sum", MetricSplits::kEach, Aggregate::kPerExample,
                                         "cross-entropy: the mean over the group's targets"),
                    "loss");
  loss.primary = true;
  return {
      loss,
      spec::HigherIsBetter(spec::Renamed(
          spec::PerClassMetric("correct", MetricSplits::kEach, Aggregate::kPerExample,
                               "fraction of the group's targets whose argmax is right"),
          "accuracy")),
      spec::HigherIsBetter(spec::Renamed(
          spec::PerClassMetric("p_true_sum", MetricSplits::kEach, Aggregate::kPerExample,
                               "mean softmax probability of the true class"),
          "p_true")),
      spec::PerClassMetric("p_mass", MetricSplits::kEach, Aggregate::kPerSplitExample,
                           "predicted probability mass of the group's classes over all targets, "
                           "divided by the number of targets"),
      spec::Renamed(spec::ScalarMetric("loss", MetricSplits::kEach,
                                       "mean loss over the split (stored for SQL readers; "
                                       "query loss --group-by none gives it)"),
                    ""),
      spec::HigherIsBetter(
          spec::Renamed(spec::ScalarMetric("accuracy", MetricSplits::kEach,
                                           "accuracy over the split (stored for SQL readers; query "
                                           "accuracy --group-by none gives it)"),
                        "")),
  };
}

}  // namespace

void CrossEntropy::CountTargets(const DataSplit& split, std::vector<int64_t>* counts) const {
  for (int32_t label : split.labels) ++(*counts)[static_cast<size_t>(label)];
}

void CrossEntropy::Targets(const ConstMatrixRef& x, const int32_t* labels,
                           std::vector<int32_t>* out) const {
  out->assign(labels, labels + x.rows());
}

double CrossEntropy::Evaluate(const ConstMatrixRef& /*x*/, const int32_t* labels, MatrixRef outputs,
                              Real grad_scale, ClassStats* stats,
                              const CurvatureRequest* curvature) {
  return SoftmaxCrossEntropy(outputs, labels, grad_scale, stats, curvature);
}

void CrossEntropy::Report(const ClassStats& stats, Split split, MetricBatch* out) const {
  out->Add("loss_sum", split, stats.loss_sum);
  out->Add("correct", split, {stats.correct.begin(), stats.correct.end()});
  out->Add("p_true_sum", split, stats.p_true_sum);
  out->Add("p_mass", split, stats.p_mass);
  const double n = static_cast<double>(stats.TotalCount());
  out->Add("loss", split, {stats.TotalLoss() / n});
  out->Add("accuracy", split, {static_cast<double>(stats.TotalCorrect()) / n});
}

void SequenceCrossEntropy::CountTargets(const DataSplit& split,
                                        std::vector<int64_t>* counts) const {
  const Matrix& x = split.features;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    for (Eigen::Index t = 1; t < x.cols(); ++t) ++(*counts)[static_cast<size_t>(x(i, t))];
    ++(*counts)[static_cast<size_t>(split.labels[static_cast<size_t>(i)])];
  }
}

double SequenceCrossEntropy::Evaluate(const ConstMatrixRef& x, const int32_t* labels,
                                      MatrixRef outputs, Real grad_scale, ClassStats* stats,
                                      const CurvatureRequest* curvature) {
  OPTBENCH_CHECK(outputs.rows() == x.rows() * x.cols());
  Targets(x, labels, &targets_);
  return SoftmaxCrossEntropy(outputs, targets_.data(), grad_scale, stats, curvature);
}

void SequenceCrossEntropy::Targets(const ConstMatrixRef& x, const int32_t* labels,
                                   std::vector<int32_t>* out) const {
  const Eigen::Index r = x.rows();
  const Eigen::Index t_len = x.cols();
  OPTBENCH_CHECK(t_len == context_);
  out->resize(static_cast<size_t>(r * t_len));
  for (Eigen::Index i = 0; i < r; ++i) {
    int32_t* row = out->data() + i * t_len;
    for (Eigen::Index t = 0; t + 1 < t_len; ++t) row[t] = static_cast<int32_t>(x(i, t + 1));
    row[t_len - 1] = labels[i];
  }
}

const ObjectiveDef& CrossEntropyDefinition() {
  static const ObjectiveDef* def = [] {
    auto* d = new ObjectiveDef;
    d->spec.kind = spec::ComponentKind::kObjective;
    d->spec.name = "cross_entropy";
    d->spec.doc = "softmax cross-entropy of each row's label (one output row per example)";
    d->spec.metrics = CrossEntropyMetrics();
    d->build = [](const spec::ParamMap&, int64_t) { return std::make_unique<CrossEntropy>(); };
    return d;
  }();
  return *def;
}

const ObjectiveDef& SequenceCrossEntropyDefinition() {
  static const ObjectiveDef* def = [] {
    auto* d = new ObjectiveDef;
    d->spec.kind = spec::ComponentKind::kObjective;
    d->spec.name = "sequence_cross_entropy";
    d->spec.doc =
        "paper 1's language-model objective: next-token cross-entropy at every position of a "
        "token row (targets x_1..x_{T-1} and the label), a mean over all n T targets";
    d->spec.needs = {"token_ids", "positions"};
    d->spec.metrics = CrossEntropyMetrics();
    d->build = [](const spec::ParamMap&, int64_t num_features) {
      return std::make_unique<SequenceCrossEntropy>(num_features);
    };
    return d;
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
