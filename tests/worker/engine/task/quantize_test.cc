// The quantize task end to end through RunJob on models a train job kept: SignRound against
// round-to-nearest, keep-best, the step budget, the export round trip, resuming from a
// checkpoint, and the errors a user can meet.
#include "worker/engine/task/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gradient_check.h"
#include "worker/engine/catalog.h"
#include "worker/engine/kept_model.h"
#include "worker/engine/optimizer/state_io.h"
#include "worker/engine/quant/quantized_export.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

// Keeps what a run sends and serves a source model and stored checkpoints.
class QuantizeSink : public RunSink {
 public:
  void OnRunInfo(const RunInfo& run_info) override { info = run_info; }
  absl::Status OnEvaluation(const MetricBatch& batch) override {
    evals.push_back(batch);
    return absl::OkStatus();
  }
  absl::Status OnCheckpoint(int64_t step, std::string bytes) override {
    checkpoints[step] = std::move(bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<StoredCheckpoint>> LoadCheckpoint(int64_t before_step) override {
    for (auto it = stored.rbegin(); it != stored.rend(); ++it) {
      if (it->first < before_step) return std::optional<StoredCheckpoint>({it->first, it->second});
    }
    return std::optional<StoredCheckpoint>();
  }
  void OnResumed(int64_t step) override { resumed = step; }
  absl::Status OnKeptModel(std::string bytes) override {
    kept = std::move(bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> LoadSourceModel() override {
    if (!source.has_value()) return absl::NotFoundError("kept no model");
    return *source;
  }

  // The values of `metric` (train split) at every evaluation that has it, by step.
  std::map<int64_t, std::vector<double>> Series(const std::string& metric,
                                                Split split = Split::kTrain) const {
    std::map<int64_t, std::vector<double>> out;
    for (const MetricBatch& b : evals) {
      if (const MetricValue* v = b.Find(metric, split)) out[b.step] = v->values;
    }
    return out;
  }
  std::vector<double> Final(const std::string& metric, Split split = Split::kTrain) const {
    const auto series = Series(metric, split);
    EXPECT_FALSE(series.empty()) << metric;
    return series.empty() ? std::vector<double>{} : series.rbegin()->second;
  }

  RunInfo info;
  std::vector<MetricBatch> evals;
  std::map<int64_t, std::string> checkpoints;  // Sent by the run.
  std::map<int64_t, std::string> stored;       // Served to it.
  int64_t resumed = 0;
  std::string kept;
  std::optional<std::string> source;
};

spec::ComponentChoice Data() {
  return {"zipf_gaussian",
          {{"classes", int64_t{16}},
           {"min_samples", int64_t{4}},
           {"alpha", 1.0},
           {"noise", 0.6},
           {"test_fraction", 0.5}}};
}

spec::ComponentChoice Mlp(std::vector<int64_t> hidden = {32, 16}) {
  return {"mlp", {{"hidden", std::move(hidden)}}};
}

// A train job with keep_model; returns its spec (validated) and the model it kept.
struct Source {
  spec::JobSpec spec;
  std::string model;
};

Source TrainSource(const spec::ComponentChoice& data, const spec::ComponentChoice& model,
                   const std::string& objective = "cross_entropy") {
  spec::JobSpec job;
  job.components["dataset"] = data;
  job.components["model"] = model;
  job.components["optimizer"] = {"adam", {{"lr", 0.01}}};
  job.components["objective"] = {objective, {}};
  job.settings = {{"steps", int64_t{150}}, {"eval_every", int64_t{150}}, {"keep_model", true}};
  job.seed = 7;
  absl::StatusOr<spec::JobSpec> validated = Catalog().Validate(job);
  EXPECT_TRUE(validated.ok()) << validated.status();
  QuantizeSink sink;
  absl::StatusOr<RunResult> result = RunJob(*validated, &sink, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(sink.kept.empty());
  return {*validated, sink.kept};
}

// A quantize job of `source` as the coordinator resolves it: the source's data set, model and
// objective copied in, its id and seed in the settings.
spec::JobSpec QuantizeJob(const Source& source, spec::ParamMap settings) {
  spec::JobSpec job;
  job.task = "quantize";
  for (const char* slot : {"dataset", "model", "objective"}) {
    job.components[slot] = source.spec.component(slot);
  }
  settings[spec::kSourceSetting] = std::string("j-source");
  settings[spec::kSourceSeedSetting] = static_cast<int64_t>(source.spec.seed);
  job.settings = std::move(settings);
  job.seed = 11;
  return job;
}

absl::StatusOr<RunResult> RunQuantize(const spec::JobSpec& job, QuantizeSink* sink,
                                      const Source& source,
                                      const std::function<bool()>& should_stop = nullptr) {
  sink->source = source.model;
  return RunJob(job, sink, should_stop);
}

const Source& MlpSource() {
  static const Source* source = new Source(TrainSource(Data(), Mlp()));
  return *source;
}

TEST(QuantizeTaskTest, SignRoundBeatsRoundToNearestAtEveryBlock) {
  for (int64_t bits : {2, 3, 4}) {
    QuantizeSink sink;
    absl::StatusOr<RunResult> result = RunQuantize(
        // Full batch: keep-best then compares the same 64 examples at every step, so it can only
        // end at or below RTN, and strictly below when any step helped.
        QuantizeJob(MlpSource(), {{"bits", bits},
                                  {"group_size", int64_t{8}},
                                  {"iters", int64_t{100}},
                                  {"samples", int64_t{64}},
                                  {"batch_size", int64_t{64}}}),
        &sink, MlpSource());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
    EXPECT_EQ(result->steps_done, 200);  // Two hidden layers x 100 steps.
    const std::vector<double> mse = sink.Final("block_mse");
    const std::vector<double> rtn = sink.Final("block_mse_rtn");
    ASSERT_EQ(mse.size(), 2u);
    ASSERT_EQ(rtn.size(), 2u);
    for (size_t b = 0; b < 2; ++b) {
      EXPECT_LT(mse[b], rtn[b]) << "W" << bits << " block " << b;
      EXPECT_GT(sink.Final("block_changed")[b], 0.0);
    }
    // Every class of both splits is reported for both models, and agreement is a count.
    for (Split split : {Split::kTrain, Split::kTest}) {
      const std::vector<double> agree = sink.Final("agree", split);
      const std::vector<double> correct = sink.Final("correct", split);
      ASSERT_EQ(agree.size(), 16u);
      EXPECT_EQ(sink.Final("fp_correct", split).size(), 16u);
      const std::vector<int64_t>& counts =
          split == Split::kTrain ? sink.info.train_class_counts : sink.info.test_class_counts;
      for (size_t k = 0; k < 16; ++k) EXPECT_LE(agree[k], static_cast<double>(counts[k]));
    }
    EXPECT_FALSE(sink.kept.empty());
  }
}

TEST(QuantizeTaskTest, RoundToNearestTrainsNothing) {
  QuantizeSink sink;
  absl::StatusOr<RunResult> result = RunQuantize(
      QuantizeJob(
          MlpSource(),
          {{"bits", int64_t{3}}, {"method", std::string("rtn")}, {"group_size", int64_t{8}}}),
      &sink, MlpSource());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->steps_done, 2);
  EXPECT_EQ(sink.Final("block_mse"), sink.Final("block_mse_rtn"));
  EXPECT_EQ(sink.Final("block_changed"), (std::vector<double>{0, 0}));
  EXPECT_TRUE(sink.Series("recon_mse").empty());
}

TEST(QuantizeTaskTest, EightBitsKeepsThePredictions) {
  QuantizeSink sink;
  ASSERT_TRUE(RunQuantize(QuantizeJob(MlpSource(), {{"bits", int64_t{8}},
                                                    {"group_size", int64_t{8}},
                                                    {"iters", int64_t{20}}}),
                          &sink, MlpSource())
                  .ok());
  const std::vector<double> agree = sink.Final("agree", Split::kTest);
  double agreed = 0;
  for (double a : agree) agreed += a;
  double n = 0;
  for (int64_t c : sink.info.test_class_counts) n += static_cast<double>(c);
  EXPECT_GE(agreed / n, 0.97);
  EXPECT_NEAR(sink.Final("loss", Split::kTest)[0], sink.Final("fp_loss", Split::kTest)[0], 0.02);
}

TEST(QuantizeTaskTest, KeepBestEndsWithTheBestStepsRounding) {
  // With the whole calibration set as the batch, a step's recon_mse is the block's MSE over every
  // calibration sample at that step's rounding: keep-best must end at the minimum of them, and
  // without it at the last step's rounding (whose MSE no step reports).
  for (bool keep_best : {true, false}) {
    QuantizeSink sink;
    ASSERT_TRUE(RunQuantize(QuantizeJob(MlpSource(), {{"bits", int64_t{2}},
                                                      {"group_size", int64_t{8}},
                                                      {"iters", int64_t{60}},
                                                      {"samples", int64_t{40}},
                                                      {"batch_size", int64_t{40}},
                                                      {"eval_every", int64_t{1}},
                                                      {"keep_best", keep_best}}),
                            &sink, MlpSource())
                    .ok());
    double best = std::numeric_limits<double>::infinity();
    double last = 0;
    for (const auto& [step, v] : sink.Series("recon_mse")) {
      if (step > 60) break;  // Block 0 only.
      best = std::min(best, v[0]);
      last = v[0];
    }
    const double final_mse = sink.Final("block_mse")[0];
    if (keep_best) {
      EXPECT_NEAR(final_mse, best, 1e-12 * best);
      EXPECT_LT(best, last);  // The minimum is not simply the last step.
    } else {
      EXPECT_GT(std::abs(final_mse - best), 1e-9 * best);
    }
  }
}

TEST(QuantizeTaskTest, DefaultBudgetKeepsVWithinHalfPlusLr) {
  // lr = 1/T decayed linearly: V moves at most sum_t lr (1 - t/T) = 0.5 + 0.5/T <= 0.5 + lr.
  QuantizeSink sink;
  const int64_t iters = 50;
  // Without keep-best the checkpoint holds V after the last step, the whole trajectory's sum.
  ASSERT_TRUE(RunQuantize(QuantizeJob(MlpSource(), {{"bits", int64_t{2}},
                                                    {"group_size", int64_t{8}},
                                                    {"iters", iters},
                                                    {"keep_best", false}}),
                          &sink, MlpSource())
                  .ok());
  ASSERT_FALSE(sink.checkpoints.empty());
  absl::StatusOr<OptimizerState> state = LoadOptimizerState(sink.checkpoints.rbegin()->second);
  ASSERT_TRUE(state.ok()) << state.status();
  const double lr = 1.0 / static_cast<double>(iters);
  double max_v = 0, max_moved = 0;
  for (const auto& [id, tensors] : state->tensors) {
    max_v = std::max(max_v, static_cast<double>(tensors.at("v").cwiseAbs().maxCoeff()));
    max_moved = std::max(max_moved,
                         static_cast<double>((tensors.at("alpha").array() - 1).abs().maxCoeff()));
  }
  EXPECT_LE(max_v, 0.5 + lr);
  EXPECT_GT(max_v, 0.3);  // It did move (signed steps move every coordinate each step).
  EXPECT_LE(max_moved, 0.5 + lr);
}

TEST(QuantizeTaskTest, ExportedWeightsAreWhatTheJobEvaluated) {
  for (bool symmetric : {false, true}) {
    QuantizeSink sink;
    ASSERT_TRUE(RunQuantize(QuantizeJob(MlpSource(), {{"bits", int64_t{3}},
                                                      {"group_size", int64_t{8}},
                                                      {"iters", int64_t{30}},
                                                      {"symmetric", symmetric},
                                                      {"quantize_head", true}}),
                            &sink, MlpSource())
                    .ok());
    absl::StatusOr<std::vector<ExportedLayer>> layers = ReadQuantizedModel(sink.kept);
    ASSERT_TRUE(layers.ok()) << layers.status();
    ASSERT_EQ(layers->size(), 3u);  // Two hidden layers and the head.
    // The source model with the exported weights dequantized in it gives the job's reported loss.
    absl::StatusOr<std::unique_ptr<Model>> model =
        MakeModel("mlp", MlpSource().spec.component("model").params, 16, 16, MlpSource().spec.seed);
    ASSERT_TRUE(model.ok());
    const std::vector<ParamSlot> params = (*model)->Params();
    ASSERT_TRUE(LoadKeptModel(MlpSource().model, params).ok());
    for (const ExportedLayer& layer : *layers) {
      const auto it = std::find_if(params.begin(), params.end(),
                                   [&](const ParamSlot& p) { return p.id == layer.id; });
      ASSERT_NE(it, params.end()) << layer.id;
      *it->value = DequantizeExported(layer);
    }
    absl::StatusOr<Dataset> data = MakeDataset("zipf_gaussian", Data().params);
    ASSERT_TRUE(data.ok());
    const double loss = ::optbench::testing::MeanCrossEntropy(model->get(), data->test().features,
                                                              data->test().labels);
    EXPECT_NEAR(loss, sink.Final("loss", Split::kTest)[0], 1e-12 * loss);
    EXPECT_GT(std::abs(loss - sink.Final("fp_loss", Split::kTest)[0]), 1e-6);
  }
}

TEST(QuantizeTaskTest, AResumedJobGivesIdenticalResults) {
  const spec::JobSpec job = QuantizeJob(MlpSource(), {{"bits", int64_t{2}},
                                                      {"group_size", int64_t{8}},
                                                      {"iters", int64_t{40}},
                                                      {"eval_every", int64_t{5}}});
  QuantizeSink whole;
  ASSERT_TRUE(RunQuantize(job, &whole, MlpSource()).ok());

  // Stopped in the middle of block 1 (after block 0's checkpoint at step 40).
  QuantizeSink first;
  int64_t polls = 0;
  absl::StatusOr<RunResult> stopped =
      RunQuantize(job, &first, MlpSource(), [&] { return ++polls > 55; });
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->outcome, RunOutcome::kCancelled);
  ASSERT_EQ(first.checkpoints.count(40), 1u);

  QuantizeSink second;
  second.stored = first.checkpoints;
  absl::StatusOr<RunResult> resumed = RunQuantize(job, &second, MlpSource());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(second.resumed, 40);
  EXPECT_EQ(resumed->resumed_from, 40);
  for (const char* metric : {"block_mse", "block_mse_rtn", "block_changed"}) {
    EXPECT_EQ(second.Final(metric), whole.Final(metric)) << metric;
  }
  for (Split split : {Split::kTrain, Split::kTest}) {
    for (const char* metric : {"loss_sum", "correct", "agree", "fp_loss_sum"}) {
      EXPECT_EQ(second.Final(metric, split), whole.Final(metric, split)) << metric;
    }
  }
  EXPECT_EQ(second.kept, whole.kept);
  // Block 1's step metrics are re-sent identically.
  const auto a = whole.Series("recon_mse"), b = second.Series("recon_mse");
  for (const auto& [step, v] : b) EXPECT_EQ(a.at(step), v) << step;
}

TEST(QuantizeTaskTest, AdamTrainsTheRoundingToo) {
  QuantizeSink sink;
  spec::JobSpec job = QuantizeJob(MlpSource(), {{"bits", int64_t{2}},
                                                {"group_size", int64_t{8}},
                                                {"iters", int64_t{100}},
                                                {"method", std::string("optimizer")}});
  job.components["optimizer"] = {"adam", {{"lr", 0.005}}};
  absl::StatusOr<RunResult> result = RunQuantize(job, &sink, MlpSource());
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<double> mse = sink.Final("block_mse"), rtn = sink.Final("block_mse_rtn");
  for (size_t b = 0; b < mse.size(); ++b) EXPECT_LT(mse[b], rtn[b]);
}

TEST(QuantizeTaskTest, TransformerBlocksAreQuantized) {
  const std::string corpus = ::testing::TempDir() + "/quantize_corpus.txt";
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 200; ++i) {
      out << "the cat sat on the mat and the dog sat on the log " << (i % 7) << "\n";
    }
  }
  const spec::ComponentChoice data{"text",
                                   {{"path", corpus},
                                    {"vocab_size", int64_t{24}},
                                    {"context", int64_t{6}},
                                    {"test_fraction", 0.2},
                                    {"max_train_examples", int64_t{300}}}};
  const spec::ComponentChoice model{"transformer",
                                    {{"d_model", int64_t{16}},
                                     {"heads", int64_t{2}},
                                     {"layers", int64_t{2}},
                                     {"mlp_width", int64_t{32}}}};
  const Source source = TrainSource(data, model, "sequence_cross_entropy");
  QuantizeSink sink;
  absl::StatusOr<RunResult> result = RunQuantize(QuantizeJob(source, {{"bits", int64_t{3}},
                                                                      {"group_size", int64_t{8}},
                                                                      {"iters", int64_t{40}},
                                                                      {"samples", int64_t{32}}}),
                                                 &sink, source);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<double> mse = sink.Final("block_mse"), rtn = sink.Final("block_mse_rtn");
  ASSERT_EQ(mse.size(), 2u);
  for (size_t b = 0; b < 2; ++b) EXPECT_LT(mse[b], rtn[b]) << b;
  absl::StatusOr<std::vector<ExportedLayer>> layers = ReadQuantizedModel(sink.kept);
  ASSERT_TRUE(layers.ok());
  EXPECT_EQ(layers->size(), 12u);  // q, k, v, o, fc, proj per block.
}

TEST(QuantizeTaskTest, ErrorsNameTheProblem) {
  const auto error = [](const spec::JobSpec& job, std::optional<std::string> model) {
    QuantizeSink sink;
    sink.source = std::move(model);
    absl::StatusOr<RunResult> r = RunJob(job, &sink, nullptr);
    return r.ok() ? std::string("ok") : std::string(r.status().message());
  };
  const Source& src = MlpSource();
  EXPECT_THAT(error(QuantizeJob(src, {{"group_size", int64_t{8}}}), std::nullopt),
              HasSubstr("source: job j-source: kept no model"));
  EXPECT_THAT(error(QuantizeJob(src, {{"bits", int64_t{5}}}), src.model), HasSubstr("bits: 5"));
  EXPECT_THAT(error(QuantizeJob(src, {{"group_size", int64_t{5}}}), src.model),
              HasSubstr("group_size: 5 does not divide the 16 inputs of layer0.weight"));
  spec::JobSpec unresolved = QuantizeJob(src, {});
  unresolved.components.erase("model");
  EXPECT_THAT(error(unresolved, src.model), HasSubstr("was not resolved"));
  spec::JobSpec rtn_with_optimizer = QuantizeJob(src, {{"method", std::string("rtn")}});
  rtn_with_optimizer.components["optimizer"] = {"adam", {}};
  EXPECT_THAT(error(rtn_with_optimizer, src.model), HasSubstr("quantize.method is 'rtn'"));

  const Source linear = TrainSource(Data(), Mlp({}));
  EXPECT_THAT(error(QuantizeJob(linear, {{"group_size", int64_t{8}}}), linear.model),
              HasSubstr("no hidden linear layers"));
  // The same errors at submission (the catalog's check, after the source's components are
  // copied in), before any worker builds the model.
  const auto submitted = [](spec::JobSpec job) {
    absl::StatusOr<spec::JobSpec> v = Catalog().Validate(job);
    return v.ok() ? std::string("ok") : std::string(v.status().message());
  };
  EXPECT_EQ(submitted(QuantizeJob(src, {{"group_size", int64_t{8}}})), "ok");
  EXPECT_THAT(submitted(QuantizeJob(src, {{"group_size", int64_t{5}}})),
              HasSubstr("group_size: 5 does not divide the 16 inputs of layer0.weight"));
  EXPECT_THAT(submitted(QuantizeJob(linear, {{"group_size", int64_t{8}}})),
              HasSubstr("no hidden linear layers"));
  spec::JobSpec softmax = QuantizeJob(src, {{"group_size", int64_t{8}}});
  softmax.components["model"] = {"linear", {}};
  EXPECT_THAT(submitted(softmax),
              HasSubstr("model: 'linear' has no linear layers quantize can take block by block"));
  // The other model's kept parameters do not fit.
  EXPECT_THAT(error(QuantizeJob(src, {{"group_size", int64_t{8}}}), linear.model),
              HasSubstr("the model kept by job j-source"));
}

}  // namespace
}  // namespace optbench::engine
