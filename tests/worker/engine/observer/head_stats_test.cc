#include "worker/engine/observer/head_stats.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"
#include "worker/engine/random.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {
namespace {

using testing::Evaluation;

using testing::RunJob;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

using RecordingSink = testing::EvaluationRecorder;

TrainJob Spec(int64_t batch_size) {
  TrainJob spec;
  spec.dataset = {"zipf_gaussian",
                  {{"classes", int64_t{5}}, {"min_samples", int64_t{2}}, {"noise", 0.5}}};
  spec.model = {"mlp", {{"hidden", std::vector<int64_t>{4}}}};
  spec.optimizer = {"gd", {{"lr", 0.5}}};
  spec.trainer.steps = 1;
  spec.trainer.batch_size = batch_size;
  spec.trainer.chunk_rows = 3;  // Several chunks, the last one shorter.
  spec.seed = 9;
  return spec;
}

// The statistics at step 0, recomputed from the initial model example by example: h_i =
// relu(W0 x_i + b0), p_i = softmax(W1 h_i + b1), grad row k = (1/n) sum_i (p_ik - y_ik) h_i.
TEST(HeadStatsTest, EvaluationReportsClassRowStatisticsRecomputedIndependently) {
  const TrainJob spec = Spec(0);
  RecordingSink sink;
  ASSERT_TRUE(RunJob(spec, &sink, nullptr).ok());
  ASSERT_EQ(sink.evals.size(), 2u);
  const Evaluation& e = sink.evals[0];
  absl::StatusOr<Dataset> data = MakeDataset(spec.dataset.name, spec.dataset.params);
  ASSERT_TRUE(data.ok());
  absl::StatusOr<std::unique_ptr<Model>> model =
      MakeModel(spec.model.name, spec.model.params, data->num_features(), 5, spec.seed);
  ASSERT_TRUE(model.ok());
  const std::vector<ParamSlot> p = (*model)->Params();
  const Matrix &w0 = *p[0].value, &b0 = *p[1].value, &w1 = *p[2].value, &b1 = *p[3].value;
  const DataSplit& train = data->train();
  const double n = static_cast<double>(train.size());
  Matrix grad = Matrix::Zero(5, 4);
  Vector bias_grad = Vector::Zero(5);
  std::vector<double> trace(5, 0.0);
  for (int64_t i = 0; i < train.size(); ++i) {
    Vector h = (w0 * train.features.row(i).transpose() + b0.col(0)).cwiseMax(0.0);
    Vector z = w1 * h + b1.col(0);
    Vector prob = (z.array() - z.maxCoeff()).exp();
    prob /= prob.sum();
    for (int k = 0; k < 5; ++k) {
      grad.row(k) += (prob(k) - (train.labels[i] == k ? 1.0 : 0.0)) / n * h.transpose();
      bias_grad(k) += (prob(k) - (train.labels[i] == k ? 1.0 : 0.0)) / n;
      trace[k] += prob(k) * (1 - prob(k)) * h.squaredNorm() / n;
    }
  }
  ASSERT_EQ(e.head_grad_norm.size(), 5u);
  ASSERT_EQ(e.head_gn_trace.size(), 5u);
  ASSERT_EQ(e.head_weight_norm.size(), 5u);
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(e.head_grad_norm[k], grad.row(k).norm(), 1e-12) << k;
    EXPECT_NEAR(e.head_gn_trace[k], trace[k], 1e-12) << k;
    EXPECT_NEAR(e.head_weight_norm[k], w1.row(k).norm(), 1e-12) << k;
    EXPECT_NEAR(e.head_bias_grad.at(k), std::abs(bias_grad(k)), 1e-12) << k;
  }
  // After one step the weights moved, so the reported weight norms changed.
  EXPECT_NE(sink.evals[1].head_weight_norm, e.head_weight_norm);
  // The update of that step: GD moved row k by lr * its gradient. No update before the first
  // step, and GD has no per-coordinate step size.
  EXPECT_TRUE(e.head_update_norm.empty());
  ASSERT_EQ(sink.evals[1].head_update_norm.size(), 5u);
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(sink.evals[1].head_update_norm[k], 0.5 * grad.row(k).norm(), 1e-12) << k;
  }
  EXPECT_TRUE(sink.evals[1].head_eff_lr.empty());

  // Adam's first step: v_hat = g^2, so each coordinate's step size is lr / (|g| + eps) and the
  // update is lr g / (|g| + eps) (m_hat = g).
  TrainJob adam_spec = spec;
  adam_spec.optimizer = {"adam", {{"lr", 0.1}}};
  RecordingSink adam;
  ASSERT_TRUE(RunJob(adam_spec, &adam, nullptr).ok());
  EXPECT_TRUE(adam.evals[0].head_eff_lr.empty());  // No second moment yet.
  ASSERT_EQ(adam.evals[1].head_eff_lr.size(), 5u);
  for (int k = 0; k < 5; ++k) {
    const Eigen::ArrayXd g = grad.row(k).transpose().array();
    const double eff = (0.1 / (g.abs() + 1e-8)).mean();
    EXPECT_NEAR(adam.evals[1].head_eff_lr[k], eff, 1e-9 * eff) << k;
    const double update = (0.1 * g / (g.abs() + 1e-8)).matrix().norm();
    EXPECT_NEAR(adam.evals[1].head_update_norm[k], update, 1e-9 * update + 1e-15) << k;
  }

  // Mini-batch mode: the trace still covers the whole train split; the gradient is the batch's.
  RecordingSink mini;
  ASSERT_TRUE(RunJob(Spec(4), &mini, nullptr).ok());
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(mini.evals[0].head_gn_trace[k], trace[k], 1e-12) << k;
    EXPECT_NEAR(mini.evals[0].head_weight_norm[k], w1.row(k).norm(), 1e-12) << k;
  }
  EXPECT_NE(mini.evals[0].head_grad_norm, e.head_grad_norm);
}

TEST(HeadStatsTest, LinearModelHeadIsItsWeight) {
  TrainJob spec = Spec(0);
  spec.model = {"linear", {{"init", std::string("uniform")}}};
  RecordingSink sink;
  ASSERT_TRUE(RunJob(spec, &sink, nullptr).ok());
  ASSERT_EQ(sink.evals[0].head_gn_trace.size(), 5u);
  // h_i = x_i, so the trace is positive for every class.
  for (double t : sink.evals[0].head_gn_trace) EXPECT_GT(t, 0.0);
}

}  // namespace
}  // namespace optbench::engine
