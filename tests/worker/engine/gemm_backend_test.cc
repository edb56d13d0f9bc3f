#include "worker/engine/gemm_backend.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

// Restores one thread per product whatever a test set.
class GemmBackendTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(SetGemmThreads(1).ok()); }
};

TEST_F(GemmBackendTest, DescriptionNamesTheBackend) {
  const std::string description = GemmBackendDescription();
  EXPECT_TRUE(description.rfind("openblas ", 0) == 0 || description.rfind("eigen ", 0) == 0)
      << description;
  EXPECT_GE(MaxGemmThreads(), 1);
}

TEST_F(GemmBackendTest, ThreadCountsOutsideTheRangeAreInvalidArgumentNamingTheValue) {
  for (int bad : {0, -3, MaxGemmThreads() + 1}) {
    const absl::Status s = SetGemmThreads(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr(std::to_string(bad) + " is not in 1.."));
  }
  EXPECT_TRUE(SetGemmThreads(1).ok());
}

// The header's promise: a job's results do not depend on how many threads run its products.
// Shapes large enough that OpenBLAS does split them (m n k well above its 2^18 threshold).
TEST_F(GemmBackendTest, RunsAreBitIdenticalOnOneAndTwoThreads) {
  if (MaxGemmThreads() < 2) GTEST_SKIP() << "single-threaded backend: " << GemmBackendDescription();
  for (const char* model : {"linear", "mlp"}) {
    TrainJob spec;
    spec.dataset = {"heavy_tail_uniform", {{"m", int64_t{6}}}};  // n 384, d 448, c 63.
    spec.model.name = model;                                     // The MLP: hidden widths 256, 128.
    spec.optimizer = {"adam", {{"lr", 1e-3}}};
    spec.trainer.steps = 6;
    spec.trainer.eval_every = 3;
    testing::EvaluationRecorder one, two;
    ASSERT_TRUE(SetGemmThreads(1).ok());
    ASSERT_TRUE(testing::RunJob(spec, &one, nullptr).ok());
    ASSERT_TRUE(SetGemmThreads(2).ok());
    ASSERT_TRUE(testing::RunJob(spec, &two, nullptr).ok());
    ASSERT_EQ(one.evals.size(), 3u);
    ASSERT_EQ(one.evals.size(), two.evals.size());
    for (size_t i = 0; i < one.evals.size(); ++i) {
      EXPECT_EQ(one.evals[i].splits.at(0).loss_sum, two.evals[i].splits.at(0).loss_sum) << model;
      EXPECT_EQ(one.evals[i].grad_norm, two.evals[i].grad_norm) << model;
    }
    EXPECT_LT(one.evals.back().splits.at(0).loss, one.evals.front().splits.at(0).loss) << model;
  }
}

}  // namespace
}  // namespace optbench::engine
