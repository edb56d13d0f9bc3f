#include "worker/engine/gemm_backend.h"

#include <cmath>
#include <string>
#include <vector>

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

// The self-check tells the two measured cases of OpenBLAS 0.3.21 apart: its SkylakeX kernels keep
// results on 2 threads, its Haswell ones (OPENBLAS_CORETYPE=Haswell) do not.
TEST_F(GemmBackendTest, SelfCheckKnowsWhichKernelsKeepResults) {
  if (MaxGemmThreads() < 2) {
    EXPECT_TRUE(GemmThreadsKeepResults());
    return;
  }
  const std::string backend = GemmBackendDescription();
  if (backend.find("SkylakeX kernels") != std::string::npos) {
    EXPECT_TRUE(GemmThreadsKeepResults()) << backend;
  }
  if (backend.find("Haswell kernels") != std::string::npos) {
    EXPECT_FALSE(GemmThreadsKeepResults()) << backend;
  }
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
    // Bit-identical where the backend's self-check says so (OpenBLAS's SkylakeX kernels); with
    // its Haswell kernels the sums differ in their last bits, and only that.
    const bool exact = GemmThreadsKeepResults();
    for (size_t i = 0; i < one.evals.size(); ++i) {
      const std::vector<double>& a = one.evals[i].splits.at(0).loss_sum;
      const std::vector<double>& b = two.evals[i].splits.at(0).loss_sum;
      if (exact) {
        EXPECT_EQ(a, b) << model;
        EXPECT_EQ(one.evals[i].grad_norm, two.evals[i].grad_norm) << model;
        continue;
      }
      ASSERT_EQ(a.size(), b.size());
      for (size_t k = 0; k < a.size(); ++k) {
        EXPECT_NEAR(a[k], b[k], 1e-5 * std::abs(a[k])) << model << " class " << k;
      }
      EXPECT_NEAR(one.evals[i].grad_norm, two.evals[i].grad_norm, 1e-4 * one.evals[i].grad_norm)
          << model << " (" << GemmBackendDescription() << ")";
    }
    EXPECT_LT(one.evals.back().splits.at(0).loss, one.evals.front().splits.at(0).loss) << model;
  }
}

}  // namespace
}  // namespace optbench::engine
