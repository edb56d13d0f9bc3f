#include "worker/engine/run_job.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/kept_model.h"

namespace optbench::engine {
namespace {

using testing::EstimatePeakMemoryBytes;
using testing::RunJob;
using testing::ValidateTrainJob;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

static_assert(sizeof(Real) == 4, "RunJob is tested at the product precision");

using RecordingSink = testing::EvaluationRecorder;
using testing::Evaluation;
using testing::SplitMetrics;

TrainJob D1Spec(int64_t m, const std::string& optimizer, double lr) {
  TrainJob spec;
  spec.dataset.name = "heavy_tail_uniform";
  spec.dataset.params["m"] = m;
  spec.model.name = "linear";
  spec.optimizer.name = optimizer;
  spec.optimizer.params["lr"] = lr;
  spec.trainer.steps = 10;
  spec.trainer.eval_every = 5;
  return spec;
}

TrainJob ZipfSpec() {
  TrainJob spec;
  spec.dataset.name = "zipf_gaussian";
  spec.dataset.params = {{"classes", int64_t{12}},
                         {"min_samples", int64_t{4}},
                         {"noise", 0.5},
                         {"test_fraction", 0.25}};
  spec.model.name = "linear";
  spec.model.params["init"] = std::string("uniform");
  spec.optimizer.name = "adam";
  spec.optimizer.params["lr"] = 0.01;
  spec.trainer.steps = 20;
  spec.trainer.eval_every = 5;
  spec.trainer.batch_size = 16;
  spec.trainer.chunk_rows = 7;
  spec.seed = 5;
  return spec;
}

void ExpectSameMetrics(const std::vector<Evaluation>& a, const std::vector<Evaluation>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].step, b[i].step);
    EXPECT_EQ(a[i].grad_norm, b[i].grad_norm);
    ASSERT_EQ(a[i].splits.size(), b[i].splits.size());
    for (size_t s = 0; s < a[i].splits.size(); ++s) {
      EXPECT_EQ(a[i].splits[s].loss_sum, b[i].splits[s].loss_sum);
      EXPECT_EQ(a[i].splits[s].correct, b[i].splits[s].correct);
      EXPECT_EQ(a[i].splits[s].p_true_sum, b[i].splits[s].p_true_sum);
      EXPECT_EQ(a[i].splits[s].p_mass, b[i].splits[s].p_mass);
      ASSERT_EQ(a[i].splits[s].diagnostics.size(), b[i].splits[s].diagnostics.size());
      for (size_t d = 0; d < a[i].splits[s].diagnostics.size(); ++d) {
        EXPECT_EQ(a[i].splits[s].diagnostics[d].name, b[i].splits[s].diagnostics[d].name);
        EXPECT_EQ(a[i].splits[s].diagnostics[d].values, b[i].splits[s].diagnostics[d].values);
      }
    }
    EXPECT_EQ(a[i].learning_rate, b[i].learning_rate) << "step " << a[i].step;
    EXPECT_EQ(a[i].head_grad_norm, b[i].head_grad_norm) << "step " << a[i].step;
    EXPECT_EQ(a[i].head_gn_trace, b[i].head_gn_trace) << "step " << a[i].step;
    EXPECT_EQ(a[i].head_weight_norm, b[i].head_weight_norm) << "step " << a[i].step;
    EXPECT_EQ(a[i].head_bias_grad, b[i].head_bias_grad) << "step " << a[i].step;
    EXPECT_EQ(a[i].head_update_norm, b[i].head_update_norm) << "step " << a[i].step;
    EXPECT_EQ(a[i].head_eff_lr, b[i].head_eff_lr) << "step " << a[i].step;
  }
}

TEST(RunJobTest, ReportsDatasetInfoAndPerClassEvaluations) {
  RecordingSink sink;
  absl::StatusOr<RunResult> result = RunJob(D1Spec(3, "adam", 0.01), &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
  EXPECT_EQ(result->steps_done, 10);
  EXPECT_EQ(sink.last_step, 10);
  EXPECT_EQ(sink.info_calls, 1);
  EXPECT_EQ(sink.info.num_classes, 7);
  EXPECT_EQ(sink.info.num_features, 32);
  EXPECT_EQ(sink.info.train_class_counts, (std::vector<int64_t>{8, 4, 4, 2, 2, 2, 2}));
  EXPECT_TRUE(sink.info.test_class_counts.empty());
  ASSERT_EQ(sink.evals.size(), 3u);  // Steps 0, 5, 10.
  const SplitMetrics& first = sink.evals[0].splits.at(0);
  ASSERT_EQ(sink.evals[0].splits.size(), 1u);  // D1 has no test split.
  EXPECT_EQ(first.split, Split::kTrain);
  EXPECT_DOUBLE_EQ(first.loss, std::log(7.0));  // Zero init.
  EXPECT_EQ(first.loss_sum.size(), 7u);
  double mass = 0;
  for (double m : first.p_mass) mass += m;
  EXPECT_NEAR(mass, 24.0, 1e-4);
  const SplitMetrics& last = sink.evals[2].splits.at(0);
  EXPECT_LT(last.loss, first.loss);
  double loss_sum = 0;
  for (double l : last.loss_sum) loss_sum += l;
  EXPECT_DOUBLE_EQ(last.loss, loss_sum / 24.0);
  EXPECT_EQ(sink.evals[2].learning_rate, 0.01);
  EXPECT_GT(sink.evals[0].grad_norm, 0.0);
}

TEST(RunJobTest, AttackSettingsTrainAdversariallyAndReportRobustAccuracy) {
  TrainJob spec = ZipfSpec();
  spec.model = {"mlp", {{"hidden", std::vector<int64_t>{8}}}};
  spec.trainer.adversarial = "pgd";
  spec.trainer.adversarial_epsilon = 0.1;
  spec.trainer.adversarial_steps = 2;
  spec.trainer.attack_epsilon = 0.1;
  spec.trainer.attack_pgd_steps = 3;
  ASSERT_TRUE(ValidateTrainJob(spec).ok()) << ValidateTrainJob(spec).status();
  RecordingSink sink;
  absl::StatusOr<RunResult> result = RunJob(spec, &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
  for (const char* metric : {"correct_fgsm", "correct_pgd"}) {
    EXPECT_NE(spec::FindMetric(sink.info.metrics, metric), nullptr) << metric;
  }
  ASSERT_FALSE(sink.evals.empty());
  for (const Evaluation& e : sink.evals) {
    for (Split split : {Split::kTrain, Split::kTest}) {
      const std::vector<int64_t>& counts =
          split == Split::kTrain ? sink.info.train_class_counts : sink.info.test_class_counts;
      for (const char* metric : {"correct_fgsm", "correct_pgd"}) {
        const MetricValue* v = e.batch.Find(metric, split);
        ASSERT_NE(v, nullptr) << metric << " at step " << e.step;
        ASSERT_EQ(v->values.size(), counts.size());
        for (size_t k = 0; k < counts.size(); ++k) {
          EXPECT_GE(v->values[k], 0);
          EXPECT_LE(v->values[k], static_cast<double>(counts[k]));
        }
      }
    }
  }
  // The attacks' buffers are in the memory estimate.
  TrainJob clean = spec;
  clean.trainer = TrainerSpec();
  clean.trainer.steps = spec.trainer.steps;
  clean.trainer.batch_size = spec.trainer.batch_size;
  clean.trainer.chunk_rows = spec.trainer.chunk_rows;
  EXPECT_GT(*EstimatePeakMemoryBytes(*ValidateTrainJob(spec)),
            *EstimatePeakMemoryBytes(*ValidateTrainJob(clean)));
}

TEST(RunJobTest, RunsAreBitIdentical) {
  for (int64_t batch : {0, 16}) {
    TrainJob spec = ZipfSpec();
    spec.trainer.batch_size = batch;
    RecordingSink a, b;
    ASSERT_TRUE(RunJob(spec, &a, nullptr).ok());
    ASSERT_TRUE(RunJob(spec, &b, nullptr).ok());
    ExpectSameMetrics(a.evals, b.evals);
    ASSERT_EQ(a.evals[0].splits.size(), 2u);
    EXPECT_EQ(a.evals[0].splits[1].split, Split::kTest);
    EXPECT_FALSE(a.info.test_class_counts.empty());
  }
}

// Parameter groups: routing every slot between two identical Adams at the same lr must equal one
// Adam over all slots, bit for bit (Adam is per coordinate); a different aux lr must matter.
TEST(RunJobTest, AuxOptimizerGroupsMatchASingleOptimizerWhenIdentical) {
  TrainJob spec = ZipfSpec();
  spec.model.name = "mlp";
  spec.model.params = {{"hidden", std::vector<int64_t>{6}}};
  auto single = ValidateTrainJob(spec);
  ASSERT_TRUE(single.ok()) << single.status();
  spec.aux_optimizer = spec::ComponentChoice{"adam", {{"lr", 0.01}}};
  auto grouped = ValidateTrainJob(spec);
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  RecordingSink a, b, c;
  ASSERT_TRUE(RunJob(*single, &a, nullptr).ok());
  ASSERT_TRUE(RunJob(*grouped, &b, nullptr).ok());
  ExpectSameMetrics(a.evals, b.evals);
  spec.aux_optimizer = spec::ComponentChoice{"adam", {{"lr", 0.001}}};
  auto slower_aux = ValidateTrainJob(spec);
  ASSERT_TRUE(slower_aux.ok());
  ASSERT_TRUE(RunJob(*slower_aux, &c, nullptr).ok());
  EXPECT_NE(a.evals.back().splits[0].loss_sum, c.evals.back().splits[0].loss_sum);
}

TEST(RunJobTest, MuonWithPaper2AuxAdamTrains) {
  TrainJob spec = ZipfSpec();
  spec.model.name = "mlp";
  spec.model.params = {{"hidden", std::vector<int64_t>{8}}};
  spec.optimizer = spec::ComponentChoice{"muon", {{"lr", 0.02}}};
  spec.aux_optimizer = spec::ComponentChoice{"paper2_adam", {}};
  auto valid = ValidateTrainJob(spec);
  ASSERT_TRUE(valid.ok()) << valid.status();
  RecordingSink sink;
  auto result = RunJob(*valid, &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCompleted);
  EXPECT_LT(sink.evals.back().splits[0].loss, sink.evals.front().splits[0].loss);
  // Validation names the aux group's fields.
  spec.aux_optimizer = spec::ComponentChoice{"adam", {{"lr", -1.0}}};
  EXPECT_NE(ValidateTrainJob(spec).status().message().find("aux_optimizer.lr"), std::string::npos);
  spec.aux_optimizer = spec::ComponentChoice{"adma", {}};
  EXPECT_NE(ValidateTrainJob(spec).status().message().find("aux_optimizer.name"),
            std::string::npos);
}

TEST(RunJobTest, SeedChangesInitAndBatches) {
  TrainJob spec = ZipfSpec();
  RecordingSink a, b;
  ASSERT_TRUE(RunJob(spec, &a, nullptr).ok());
  spec.seed = 6;
  ASSERT_TRUE(RunJob(spec, &b, nullptr).ok());
  EXPECT_NE(a.evals.back().splits[0].loss_sum, b.evals.back().splits[0].loss_sum);
}

TEST(RunJobTest, InvalidSpecsAreInvalidArgument) {
  RecordingSink sink;
  TrainJob spec = D1Spec(3, "adma", 0.1);
  EXPECT_THAT(RunJob(spec, &sink, nullptr).status().message(), HasSubstr("optimizer.name"));
  spec = D1Spec(3, "gd", 0.1);
  spec.trainer.batch_size = 25;  // D1 with m = 3 has 24 examples.
  absl::Status status = RunJob(spec, &sink, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("trainer.batch_size: 25 exceeds the 24 examples"));
  spec.dataset.name = "csv";
  spec.dataset.params = {{"train_path", std::string("/nonexistent/train.csv")}};
  spec.trainer.batch_size = 0;
  status = RunJob(spec, &sink, nullptr).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/train.csv: cannot open file"));
  EXPECT_EQ(sink.info_calls, 0);
}

TEST(RunJobTest, SinkErrorIsReturned) {
  RecordingSink sink;
  sink.fail_at_step = 5;
  EXPECT_EQ(RunJob(D1Spec(3, "gd", 0.1), &sink, nullptr).status(),
            absl::UnavailableError("lease lost"));
  EXPECT_EQ(sink.last_step, 5);
}

TEST(RunJobTest, CancelledWhenAskedToStop) {
  RecordingSink sink;
  absl::StatusOr<RunResult> result =
      RunJob(D1Spec(3, "gd", 0.1), &sink, [&sink]() { return sink.last_step >= 4; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCancelled);
  EXPECT_EQ(result->steps_done, 4);
  ASSERT_EQ(sink.evals.size(), 1u);
}

// Checkpoints: a sink that saves every `every` steps (and, if asked, when stopped), and hands
// stored checkpoints back newest first, like the worker does through the coordinator.
class CheckpointingSink : public RecordingSink {
 public:
  bool CheckpointDue(int64_t step, bool stopping) override {
    return stopping ? save_on_stop : (every > 0 && step % every == 0);
  }
  absl::Status OnCheckpoint(int64_t step, std::string bytes) override {
    saved[step] = std::move(bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<StoredCheckpoint>> LoadCheckpoint(int64_t before_step) override {
    ++loads;
    auto it = stored.lower_bound(before_step);
    if (it == stored.begin()) return std::optional<StoredCheckpoint>();
    --it;
    return StoredCheckpoint{it->first, it->second};
  }
  void OnCheckpointRejected(int64_t step, const absl::Status& why) override {
    rejected.emplace_back(step, why);
  }
  void OnResumed(int64_t step) override { resumed = step; }

  int64_t every = 0;
  bool save_on_stop = false;
  std::map<int64_t, std::string> saved;   // What this run saved.
  std::map<int64_t, std::string> stored;  // What it may resume from.
  std::vector<std::pair<int64_t, absl::Status>> rejected;
  int64_t resumed = -1;
  int loads = 0;
};

// Keeps what a run hands to OnKeptModel, and answers with `kept_status`.
class KeepingSink : public CheckpointingSink {
 public:
  absl::Status OnKeptModel(std::string bytes) override {
    kept.push_back(std::move(bytes));
    return kept_status;
  }
  std::vector<std::string> kept;
  absl::Status kept_status;
};

// The evaluations of `run` from step `from` on must equal the undisturbed run's, bit for bit.
void ExpectSameFrom(const std::vector<Evaluation>& undisturbed,
                    const std::vector<Evaluation>& resumed, int64_t from) {
  std::vector<Evaluation> tail;
  for (const Evaluation& e : undisturbed) {
    if (e.step >= from) tail.push_back(e);
  }
  ASSERT_FALSE(resumed.empty());
  EXPECT_EQ(resumed.front().step, from);
  ExpectSameMetrics(tail, resumed);
}

TEST(RunJobTest, ResumingFromACheckpointContinuesBitIdentically) {
  struct Case {
    const char* optimizer;
    int64_t batch_size;
  };
  // Full batch and mini-batch (the sampler is replayed), element-wise and matrix optimizers with
  // state (moments, factors, step counts).
  for (const Case& c :
       {Case{"adam", 0}, Case{"adam", 16}, Case{"sgd", 16}, Case{"soap", 16}, Case{"muon", 0}}) {
    SCOPED_TRACE(c.optimizer);
    TrainJob spec = ZipfSpec();
    spec.model.name = "mlp";
    spec.model.params = {{"hidden", std::vector<int64_t>{6}}};
    spec.optimizer.name = c.optimizer;
    spec.optimizer.params = {{"lr", 0.01}};
    spec.trainer.batch_size = c.batch_size;
    spec.trainer.eval_every = 1;

    CheckpointingSink undisturbed;
    undisturbed.every = 4;
    ASSERT_TRUE(RunJob(spec, &undisturbed, nullptr).ok());
    ASSERT_EQ(undisturbed.saved.size(), 4u);  // Steps 4, 8, 12, 16; not 20, the last.
    EXPECT_EQ(undisturbed.resumed, -1);

    // A worker stopped at step 11 (after the checkpoint at 8) is retried: it resumes at 8.
    CheckpointingSink first;
    first.every = 4;
    int polls = 0;
    absl::StatusOr<RunResult> stopped = RunJob(spec, &first, [&] { return ++polls > 11; });
    ASSERT_TRUE(stopped.ok());
    EXPECT_EQ(stopped->outcome, RunOutcome::kCancelled);
    EXPECT_EQ(stopped->steps_done, 11);
    ASSERT_EQ(first.saved.size(), 2u);
    // Each checkpoint is byte-identical to the undisturbed run's at the same step, wall time
    // aside (bytes 16..23 of the header).
    std::string a = first.saved.at(8), b = undisturbed.saved.at(8);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(a.substr(24, a.size() - 32), b.substr(24, b.size() - 32));

    CheckpointingSink second;
    second.stored = first.saved;
    absl::StatusOr<RunResult> resumed = RunJob(spec, &second, nullptr);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    EXPECT_EQ(resumed->outcome, RunOutcome::kCompleted);
    EXPECT_EQ(resumed->resumed_from, 8);
    EXPECT_EQ(second.resumed, 8);
    EXPECT_TRUE(second.rejected.empty());
    ExpectSameFrom(undisturbed.evals, second.evals, 8);
    // Wall time goes on from the checkpoint's (header bytes 16..23), taken after evaluation 7.
    double saved_wall = 0;
    std::memcpy(&saved_wall, first.saved.at(8).data() + 16, sizeof(saved_wall));
    EXPECT_GE(saved_wall, first.evals[7].wall_seconds);
    EXPECT_GE(second.evals.front().wall_seconds, saved_wall);
  }
}

TEST(RunJobTest, CorruptCheckpointIsRejectedAndAnOlderOneUsed) {
  TrainJob spec = ZipfSpec();
  spec.trainer.eval_every = 1;
  CheckpointingSink undisturbed;
  undisturbed.every = 5;
  ASSERT_TRUE(RunJob(spec, &undisturbed, nullptr).ok());
  ASSERT_TRUE(undisturbed.saved.count(10) && undisturbed.saved.count(15));

  CheckpointingSink retry;
  retry.stored = {{10, undisturbed.saved.at(10)}, {15, undisturbed.saved.at(15)}};
  retry.stored[15][retry.stored[15].size() / 2] ^= 0x01;  // One bit flipped in the newest.
  absl::StatusOr<RunResult> result = RunJob(spec, &retry, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(retry.rejected.size(), 1u);
  EXPECT_EQ(retry.rejected[0].first, 15);
  EXPECT_EQ(retry.rejected[0].second.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(retry.rejected[0].second.message()), HasSubstr("checksum mismatch"));
  EXPECT_EQ(result->resumed_from, 10);
  ExpectSameFrom(undisturbed.evals, retry.evals, 10);

  // Both corrupt (the older one truncated): rejected in turn, the run starts over from step 0
  // and still gives the undisturbed results.
  CheckpointingSink worst;
  worst.stored = retry.stored;
  worst.stored[10].resize(worst.stored[10].size() - 3);
  result = RunJob(spec, &worst, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(worst.rejected.size(), 2u);
  EXPECT_EQ(worst.rejected[1].first, 10);
  EXPECT_EQ(worst.rejected[1].second.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(result->resumed_from, 0);
  EXPECT_EQ(worst.resumed, -1);
  ExpectSameMetrics(undisturbed.evals, worst.evals);
}

TEST(RunJobTest, CheckpointOfAnotherModelIsRefusedWithoutTouchingTheRun) {
  TrainJob spec = ZipfSpec();
  spec.model.name = "mlp";
  spec.model.params = {{"hidden", std::vector<int64_t>{6}}};
  CheckpointingSink other;
  other.every = 5;
  ASSERT_TRUE(RunJob(spec, &other, nullptr).ok());

  spec.model.params = {{"hidden", std::vector<int64_t>{7}}};
  CheckpointingSink plain, retry;
  ASSERT_TRUE(RunJob(spec, &plain, nullptr).ok());
  retry.stored = other.saved;
  absl::StatusOr<RunResult> result = RunJob(spec, &retry, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(retry.rejected.size(), other.saved.size());
  EXPECT_EQ(retry.rejected[0].second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(retry.rejected[0].second.message()), HasSubstr("layer0.weight"));
  ExpectSameMetrics(plain.evals, retry.evals);
}

// Preemption: the checkpoint is taken before the evaluation of the step it stops at, so the
// resumed run evaluates that step itself — with every statistic, the update norm of the step
// before included (the head before it travels in the checkpoint).
TEST(RunJobTest, StopSavesACheckpointThatResumesWithEveryStatistic) {
  for (const char* optimizer : {"adam", "gd"}) {
    SCOPED_TRACE(optimizer);
    TrainJob spec = ZipfSpec();
    spec.model.name = "mlp";
    spec.model.params = {{"hidden", std::vector<int64_t>{6}}};
    spec.optimizer.name = optimizer;
    spec.trainer.eval_every = 1;
    CheckpointingSink undisturbed;
    ASSERT_TRUE(RunJob(spec, &undisturbed, nullptr).ok());
    ASSERT_FALSE(undisturbed.evals[7].head_update_norm.empty());

    CheckpointingSink sink;
    sink.save_on_stop = true;
    int polls = 0;
    absl::StatusOr<RunResult> result = RunJob(spec, &sink, [&] { return ++polls > 7; });
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->outcome, RunOutcome::kCancelled);
    ASSERT_EQ(sink.saved.size(), 1u);
    EXPECT_EQ(sink.saved.begin()->first, 7);
    EXPECT_EQ(sink.evals.back().step, 6);  // Step 7 was not evaluated before the stop.

    CheckpointingSink resumed;
    resumed.stored = sink.saved;
    ASSERT_TRUE(RunJob(spec, &resumed, nullptr).ok());
    EXPECT_EQ(resumed.resumed, 7);
    ExpectSameFrom(undisturbed.evals, resumed.evals, 7);
  }
}

// A store that hands back something other than what was asked for cannot loop the worker.
TEST(RunJobTest, ACheckpointNotBeforeTheAskedStepEndsTheSearch) {
  class Stubborn : public CheckpointingSink {
   public:
    absl::StatusOr<std::optional<StoredCheckpoint>> LoadCheckpoint(int64_t) override {
      ++loads;
      return StoredCheckpoint{5, "corrupt"};
    }
  };
  Stubborn sink;
  absl::StatusOr<RunResult> result = RunJob(ZipfSpec(), &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->resumed_from, 0);
  EXPECT_EQ(sink.loads, 2);  // The corrupt one, then the same again: give up, start over.
  ASSERT_EQ(sink.rejected.size(), 2u);
  EXPECT_EQ(sink.rejected[1].second.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RunJobTest, DivergenceInFloat32) {
  // Features of 1e17: after one GD step of lr 1e6 the logits exceed float32's range.
  const std::string path = ::testing::TempDir() + "/run_job_test_diverge.csv";
  std::ofstream(path) << "a,b,label\n1e17,-1e17,0\n-1e17,1e17,1\n";
  TrainJob spec = D1Spec(3, "gd", 1e6);
  spec.dataset.name = "csv";
  spec.dataset.params = {{"train_path", path}};
  spec.trainer.eval_every = 1;
  spec.trainer.keep_model = true;
  KeepingSink sink;
  absl::StatusOr<RunResult> result = RunJob(spec, &sink, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kDiverged);
  EXPECT_TRUE(sink.kept.empty());  // A diverged run's model is not worth keeping.
  EXPECT_EQ(result->steps_done, 1);
  EXPECT_THAT(result->message, HasSubstr("diverged"));
  ASSERT_EQ(sink.evals.size(), 1u);
  EXPECT_TRUE(std::isfinite(sink.evals[0].splits[0].loss));
}

TEST(RunJobTest, KeepModelHandsOverTheFinalParametersOnce) {
  TrainJob spec = D1Spec(3, "adam", 0.01);
  KeepingSink sink;
  ASSERT_TRUE(RunJob(spec, &sink, nullptr).ok());
  EXPECT_TRUE(sink.kept.empty());  // Off by default.

  spec.trainer.keep_model = true;
  ASSERT_TRUE(RunJob(spec, &sink, nullptr).ok());
  ASSERT_EQ(sink.kept.size(), 1u);
  // The parameters to expect: a run takes no checkpoint at its last step, but one step longer
  // (full batches, constant lr: the same first 10 steps) checkpoints after step 10.
  TrainJob longer = spec;
  longer.trainer.keep_model = false;
  longer.trainer.steps = spec.trainer.steps + 1;
  sink.every = spec.trainer.steps;
  ASSERT_TRUE(RunJob(longer, &sink, nullptr).ok());
  ASSERT_EQ(sink.kept.size(), 1u);
  ASSERT_EQ(sink.saved.count(spec.trainer.steps), 1u);
  absl::StatusOr<TrainJob> validated = ValidateTrainJob(spec);
  ASSERT_TRUE(validated.ok()) << validated.status();
  // A model built as the job builds it, then overwritten from the kept bytes.
  const Dataset data = *FindDataset("heavy_tail_uniform").build(validated->dataset.params);
  auto model = FindModel("linear").build(validated->model.params,
                                         {data.num_features(), data.num_classes(), 1}, spec.seed);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<ParamSlot> params = (*model)->Params();
  ASSERT_TRUE(LoadKeptModel(sink.kept[0], params).ok());
  absl::StatusOr<ParsedCheckpoint> last = ParseCheckpoint(sink.saved[spec.trainer.steps], params);
  ASSERT_TRUE(last.ok()) << last.status();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(*params[i].value, last->values[i]) << params[i].id;
  }
}

TEST(RunJobTest, OnlyACompletedRunKeepsItsModel) {
  TrainJob spec = D1Spec(3, "gd", 0.1);
  spec.trainer.keep_model = true;
  KeepingSink cancelled;
  absl::StatusOr<RunResult> result =
      RunJob(spec, &cancelled, [&cancelled]() { return cancelled.last_step >= 4; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, RunOutcome::kCancelled);
  EXPECT_TRUE(cancelled.kept.empty());

  // The sink could not keep it (a lost lease): the run fails rather than succeed without it.
  KeepingSink refusing;
  refusing.kept_status = absl::UnavailableError("lease lost");
  EXPECT_EQ(RunJob(spec, &refusing, nullptr).status(), absl::UnavailableError("lease lost"));
  EXPECT_EQ(refusing.kept.size(), 1u);
}

TEST(RunJobTest, EstimatesPeakMemory) {
  // D1, m = 8, Adam: X is 2048 x 2304 floats; W (255 x 2304) + b has value, grad, m and v.
  const TrainJob spec = D1Spec(8, "adam", 1e-3);
  absl::StatusOr<int64_t> bytes = EstimatePeakMemoryBytes(spec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const int64_t data = int64_t{2048} * 2304 * 4 + 2048 * 4;
  const int64_t params = (int64_t{255} * 2304 + 255) * 4 * 4;
  const int64_t logits = int64_t{2048} * 255 * 4;
  EXPECT_GE(*bytes, data + params + logits);
  EXPECT_LE(*bytes, (data + params + logits) * 101 / 100);
  absl::StatusOr<int64_t> gd = EstimatePeakMemoryBytes(D1Spec(8, "gd", 0.1));
  ASSERT_TRUE(gd.ok());
  EXPECT_EQ(*bytes - *gd, (int64_t{255} * 2304 + 255) * 4 * 2);  // Adam's m and v.
  const std::string path = ::testing::TempDir() + "/run_job_test_estimate.csv";
  std::ofstream(path) << "a,b,label\n1,2,0\n3,4,9\n";
  TrainJob csv = D1Spec(3, "gd", 0.1);
  csv.dataset.name = "csv";
  csv.dataset.params = {{"train_path", path}};
  absl::StatusOr<int64_t> csv_bytes = EstimatePeakMemoryBytes(csv);
  ASSERT_TRUE(csv_bytes.ok()) << csv_bytes.status();
  EXPECT_GE(*csv_bytes, 2 * 2 * 4 + 2 * (10 * 2 + 10) * 4);
  csv.dataset.params["train_path"] = std::string("/nonexistent.csv");
  EXPECT_EQ(EstimatePeakMemoryBytes(csv).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace optbench::engine
