// Paper 1's language-model objective (ALGORITHMS.md 1.2-1.3): next-token cross-entropy at every
// position of a context, and the transformer's per-position outputs it needs. Checked against an
// independent recomputation, the transformer's own last-position outputs of each prefix (causal
// attention: position t sees tokens 0..t only), and central finite differences.
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/model/transformer.h"
#include "worker/engine/objective/cross_entropy.h"
#include "worker/engine/random.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::CheckGradient;
using ::optbench::testing::GradientCheckResult;
using ::optbench::testing::GradientSlotsOf;
using ::optbench::testing::GradientTolerance;
using testing::RunJob;

static_assert(sizeof(Real) == 8, "numerical checks run against the float64 engine");

// V = 11 tokens, contexts of T = 5, d = 8 with 2 heads, L = 2, MLP width 10.
TransformerOptions SmallOptions(bool all_positions) {
  TransformerOptions o;
  o.context = 5;
  o.vocab = 11;
  o.d_model = 8;
  o.heads = 2;
  o.layers = 2;
  o.mlp_width = 10;
  o.init_std = 0.3;
  o.all_positions = all_positions;
  return o;
}

Matrix Tokens(int64_t rows, int64_t context, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  Matrix x(rows, context);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    x.data()[i] = static_cast<Real>(rng.UniformInt(static_cast<uint64_t>(vocab)));
  }
  return x;
}

std::vector<int32_t> NextTokens(int64_t rows, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> y(static_cast<size_t>(rows));
  for (int32_t& v : y) v = static_cast<int32_t>(rng.UniformInt(static_cast<uint64_t>(vocab)));
  return y;
}

// The target of output row i·T + t: the token after position t.
int32_t Target(const Matrix& x, const std::vector<int32_t>& labels, Eigen::Index i,
               Eigen::Index t) {
  return t + 1 < x.cols() ? static_cast<int32_t>(x(i, t + 1)) : labels[static_cast<size_t>(i)];
}

TEST(SequenceCrossEntropyTest, EveryPositionPredictsTheNextTokenAndEveryTargetCounts) {
  const int64_t r = 4, t = 5, v = 7;
  const Matrix x = Tokens(r, t, v, 1);
  const std::vector<int32_t> labels = NextTokens(r, v, 2);
  Matrix logits(r * t, v);
  Rng rng(3);
  for (Eigen::Index k = 0; k < logits.size(); ++k) logits.data()[k] = rng.Normal();
  const Matrix original = logits;

  SequenceCrossEntropy objective(t);
  EXPECT_EQ(objective.outputs_per_example(), t);
  ClassStats stats;
  stats.Reset(v);
  const double scale = 1.0 / static_cast<double>(r * t);
  const double loss = objective.Evaluate(x, labels.data(), logits, scale, &stats, nullptr);

  // Independently: log-softmax of each row at its target, and the gradient softmax - onehot.
  double want = 0;
  std::vector<int64_t> counts(static_cast<size_t>(v), 0);
  for (Eigen::Index i = 0; i < r; ++i) {
    for (Eigen::Index p = 0; p < t; ++p) {
      const Eigen::Index row = i * t + p;
      const int32_t y = Target(x, labels, i, p);
      const double z = original.row(row).array().exp().sum();
      want += std::log(z) - original(row, y);
      ++counts[static_cast<size_t>(y)];
      for (Eigen::Index k = 0; k < v; ++k) {
        const double grad = scale * (std::exp(original(row, k)) / z - (k == y ? 1.0 : 0.0));
        EXPECT_NEAR(logits(row, k), grad, 1e-15) << row << "," << k;
      }
    }
  }
  EXPECT_NEAR(loss, want, 1e-12);
  EXPECT_EQ(stats.count, counts);
  EXPECT_EQ(stats.TotalCount(), r * t);

  // A split's target counts are the same targets.
  DataSplit split;
  split.features = x;
  split.labels = labels;
  std::vector<int64_t> split_counts(static_cast<size_t>(v), 0);
  objective.CountTargets(split, &split_counts);
  EXPECT_EQ(split_counts, counts);
}

TEST(SequenceCrossEntropyTest, PerPositionLogitsAreEachPrefixsLastPositionLogits) {
  // Causal attention: the output at position t depends on tokens 0..t only, so it equals the
  // last-position output of the model over the prefix of length t + 1 with the same weights.
  for (bool sinusoidal : {false, true}) {
    TransformerOptions all = SmallOptions(true);
    all.sinusoidal = sinusoidal;
    TransformerModel model(all, 4);
    const Matrix x = Tokens(3, all.context, all.vocab, 5);
    Matrix logits(3 * all.context, all.vocab);
    model.Forward(x, logits);
    for (int64_t len = 1; len <= all.context; ++len) {
      TransformerOptions prefix_options = all;
      prefix_options.context = len;
      prefix_options.all_positions = false;
      TransformerModel prefix(prefix_options, 9);  // Other weights, overwritten below.
      std::vector<ParamSlot> source = model.AllTensors();
      for (const ParamSlot& slot : prefix.AllTensors()) {
        for (const ParamSlot& s : source) {
          if (s.id == slot.id) *slot.value = s.value->topRows(slot.value->rows());
        }
      }
      Matrix want(3, all.vocab);
      prefix.Forward(x.leftCols(len), want);
      for (Eigen::Index i = 0; i < 3; ++i) {
        const Eigen::Index row = i * all.context + len - 1;
        EXPECT_TRUE(logits.row(row).isApprox(want.row(i), 1e-12))
            << "sinusoidal " << sinusoidal << ", example " << i << ", position " << len - 1;
      }
    }
  }
}

// Central differences of the mean sequence loss against the transformer's analytic gradient with
// one output row per position (the step and tolerances of the transformer's own check).
void CheckSequenceGradient(TransformerOptions o) {
  constexpr GradientTolerance kTolerance{/*step=*/1e-5, /*abs_tol=*/1e-8, /*rel_tol=*/1e-6};
  TransformerModel model(o, 6);
  const int64_t rows = 3;
  const Matrix x = Tokens(rows, o.context, o.vocab, 7);
  const std::vector<int32_t> labels = NextTokens(rows, o.vocab, 8);
  SequenceCrossEntropy objective(o.context);
  const double n = static_cast<double>(rows * o.context);
  Matrix logits(rows * o.context, o.vocab);
  model.ZeroGrad();
  model.Forward(x, logits);
  objective.Evaluate(x, labels.data(), logits, static_cast<Real>(1.0 / n), nullptr, nullptr);
  model.Backward(logits);
  const std::vector<ParamSlot> params = model.Params();
  const GradientCheckResult r = CheckGradient(
      GradientSlotsOf(params),
      [&] {
        model.Forward(x, logits);
        return objective.Evaluate(x, labels.data(), logits, 0, nullptr, nullptr) / n;
      },
      kTolerance);
  int64_t entries = 0;
  for (const ParamSlot& slot : params) entries += slot.value->size();
  EXPECT_EQ(r.entries_checked, entries);
  EXPECT_GT(r.max_abs_numeric, 1e-3);
}

TEST(SequenceCrossEntropyTest, TransformerGradientMatchesFiniteDifferencesAtEveryPosition) {
  CheckSequenceGradient(SmallOptions(true));
}

TEST(SequenceCrossEntropyTest, LastLayerOnlyGradientMatchesFiniteDifferencesAtEveryPosition) {
  TransformerOptions o = SmallOptions(true);
  o.last_layer_only = true;
  CheckSequenceGradient(o);
}

TEST(SequenceCrossEntropyTest, HeadInputHasARowPerPosition) {
  const TransformerOptions o = SmallOptions(true);
  TransformerModel model(o, 1);
  const Matrix x = Tokens(2, o.context, o.vocab, 3);
  Matrix logits(2 * o.context, o.vocab);
  model.Forward(x, logits);
  ASSERT_TRUE(model.HeadInput().has_value());
  EXPECT_EQ(model.HeadInput()->rows(), 2 * o.context);
  const std::vector<ParamSlot> params = model.Params();  // ..., head.weight, head.bias.
  const ParamSlot& head = params[params.size() - 2];
  ASSERT_EQ(head.role, ParamRole::kOutputHead);
  Matrix again = *model.HeadInput() * head.value->transpose();
  again.rowwise() += params.back().value->col(0).transpose();
  EXPECT_TRUE(again.isApprox(logits, 1e-12));
}

TEST(SequenceCrossEntropyTest, TheFullBatchGradientIsTheSameForAnyChunkSize) {
  // chunk_rows bounds output rows: 5 positions per example, chunks of 1, 2 or all examples.
  const TransformerOptions o = SmallOptions(true);
  DataSplit train;
  train.features = Tokens(7, o.context, o.vocab, 11);
  train.labels = NextTokens(7, o.vocab, 12);
  const Dataset data(o.vocab, std::move(train), std::nullopt);
  std::vector<std::vector<Matrix>> grads;
  std::vector<double> losses;
  for (int64_t chunk_rows : {5, 10, 4096}) {
    TransformerModel model(o, 2);
    auto optimizer = MakeOptimizer("gd", {});
    ASSERT_TRUE(optimizer.ok());
    TrainerSpec spec;
    spec.steps = 1;
    spec.chunk_rows = chunk_rows;
    TrainerParts parts;
    parts.objective = std::make_unique<SequenceCrossEntropy>(o.context);
    Trainer trainer(spec, 0.1, &data, &model, optimizer->get(), 0, std::move(parts));
    ClassStats stats;
    stats.Reset(o.vocab);
    losses.push_back(trainer.FullBatchGradient(&stats));
    EXPECT_EQ(stats.TotalCount(), 7 * o.context);
    grads.emplace_back();
    for (const ParamSlot& slot : model.Params()) grads.back().push_back(*slot.grad);
  }
  for (size_t c = 1; c < grads.size(); ++c) {
    EXPECT_NEAR(losses[c], losses[0], 1e-13);
    for (size_t s = 0; s < grads[0].size(); ++s) {
      // Absolute and relative: the key biases' gradients are exactly 0 up to rounding.
      EXPECT_LE((grads[c][s] - grads[0][s]).norm(), 1e-12 * (1 + grads[0][s].norm()))
          << c << "," << s;
    }
  }
}

TEST(SequenceCrossEntropyTest, RunJobTrainsTheLanguageModelOnEveryPosition) {
  // Paper 1's setup on Debian's fortunes corpus, tiny: per-class statistics cover every target.
  TrainJob job;
  job.dataset = {"text",
                 {{"vocab_size", int64_t{50}},
                  {"context", int64_t{4}},
                  {"max_train_examples", int64_t{60}},
                  {"max_test_examples", int64_t{20}}}};
  job.model = {"transformer",
               {{"d_model", int64_t{8}},
                {"heads", int64_t{2}},
                {"layers", int64_t{1}},
                {"mlp_width", int64_t{16}}}};
  job.optimizer = {"adam", {{"lr", 0.01}}};
  job.objective = {"sequence_cross_entropy", {}};
  job.trainer.steps = 20;
  job.trainer.eval_every = 10;
  testing::EvaluationRecorder sink;
  absl::StatusOr<RunResult> result = RunJob(job, &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  int64_t train_targets = 0, test_targets = 0;
  for (int64_t n : sink.info.train_class_counts) train_targets += n;
  for (int64_t n : sink.info.test_class_counts) test_targets += n;
  EXPECT_EQ(train_targets, 60 * 4);
  EXPECT_EQ(test_targets, 20 * 4);
  ASSERT_EQ(sink.evals.size(), 3u);
  double counted = 0;
  for (double c : sink.evals[0].splits[0].correct) counted += c;
  EXPECT_LE(counted, 240);
  EXPECT_DOUBLE_EQ(sink.evals[0].splits[0].loss, [&] {
    double sum = 0;
    for (double l : sink.evals[0].splits[0].loss_sum) sum += l;
    return sum / 240;
  }());
  EXPECT_LT(sink.evals[2].splits[0].loss, sink.evals[0].splits[0].loss);
  // The head's statistics see every position: the Gauss-Newton trace is a mean over 240 rows.
  EXPECT_EQ(sink.evals[0].head_gn_trace.size(), sink.info.train_class_counts.size());
}

}  // namespace
}  // namespace optbench::engine
