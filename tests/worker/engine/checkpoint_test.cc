#include "worker/engine/checkpoint.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/catalog.h"
#include "worker/engine/model/mlp.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

// A small MLP and an Adam that has taken two steps on made-up gradients: every parameter and
// every optimizer tensor holds something non-trivial.
struct Trained {
  explicit Trained(uint64_t seed, int64_t hidden = 3)
      : model(MlpOptions{4, {hidden}, 3, true, DenseInit::kKaimingUniform, false}, seed) {
    auto made = MakeOptimizer("adam", {{"lr", 0.1}});
    EXPECT_TRUE(made.ok()) << made.status();
    optimizer = *std::move(made);
    for (int step = 0; step < 2; ++step) {
      for (const ParamSlot& slot : model.Params()) slot.grad->setConstant(0.5 - step);
      optimizer->Step(model.Params(), 0.1);
    }
  }
  MlpModel model;
  std::unique_ptr<Optimizer> optimizer;
};

TEST(CheckpointTest, RoundTripsParametersAndOptimizerStateExactly) {
  Trained a(1);
  const std::string bytes =
      SaveCheckpoint(2, 12.5, a.model.Params(), a.optimizer->state(), OptimizerState());
  Trained b(2);  // Other values everywhere.
  ASSERT_NE(*b.model.Params()[0].value, *a.model.Params()[0].value);
  absl::StatusOr<ParsedCheckpoint> parsed = ParseCheckpoint(bytes, b.model.Params());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->step, 2);
  EXPECT_EQ(parsed->wall_seconds, 12.5);
  ApplyCheckpoint(*std::move(parsed), b.model.Params(), b.optimizer.get());
  const std::vector<ParamSlot> pa = a.model.Params(), pb = b.model.Params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(*pa[i].value, *pb[i].value) << pa[i].id;
  EXPECT_EQ(b.optimizer->state().step, 2);
  ASSERT_EQ(b.optimizer->state().tensors.size(), a.optimizer->state().tensors.size());
  for (const auto& [id, tensors] : a.optimizer->state().tensors) {
    for (const auto& [name, m] : tensors) {
      EXPECT_EQ(b.optimizer->state().tensors.at(id).at(name), m) << id << "/" << name;
    }
  }
  // The same state saves to the same bytes.
  EXPECT_EQ(SaveCheckpoint(2, 12.5, pb, b.optimizer->state(), OptimizerState()), bytes);
}

TEST(CheckpointTest, EveryFlippedByteAndEveryTruncationIsAnError) {
  Trained a(1);
  const std::string bytes =
      SaveCheckpoint(2, 1.0, a.model.Params(), a.optimizer->state(), OptimizerState());
  Trained b(2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x40;
    absl::StatusOr<ParsedCheckpoint> parsed = ParseCheckpoint(bad, b.model.Params());
    ASSERT_FALSE(parsed.ok()) << "byte " << i;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<ParsedCheckpoint> parsed =
        ParseCheckpoint(std::string_view(bytes).substr(0, n), b.model.Params());
    ASSERT_FALSE(parsed.ok()) << "length " << n;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss) << "length " << n;
  }
  EXPECT_FALSE(ParseCheckpoint(bytes + "x", b.model.Params()).ok());
}

TEST(CheckpointTest, ACheckpointOfAnotherModelIsFailedPreconditionNamingTheParameter) {
  Trained a(1, /*hidden=*/3);
  const std::string bytes =
      SaveCheckpoint(2, 1.0, a.model.Params(), a.optimizer->state(), OptimizerState());
  Trained wider(1, /*hidden=*/5);
  absl::StatusOr<ParsedCheckpoint> parsed = ParseCheckpoint(bytes, wider.model.Params());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("'layer0.weight' is 3 x 4"));

  MlpModel no_bias(MlpOptions{4, {3}, 3, false, DenseInit::kKaimingUniform, false}, 1);
  parsed = ParseCheckpoint(bytes, no_bias.Params());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("4 parameter tensors"));
}

// Checksums pass, but the optimizer state cannot be this run's: refused before anything is
// applied (the optimizer's first step would otherwise abort on a shape check).
TEST(CheckpointTest, AnOptimizerStateThatDoesNotFitIsFailedPrecondition) {
  Trained a(1);
  Trained b(2);
  struct Case {
    const char* what;
    std::function<void(OptimizerState*)> spoil;
    const char* needle;
  };
  const Case cases[] = {
      {"step", [](OptimizerState* s) { s->step = 3; }, "of step 3, not 2"},
      {"slot", [](OptimizerState* s) { s->tensors["no.such.slot"]["exp_avg"] = Matrix(1, 1); },
       "slot 'no.such.slot'"},
      {"shape",
       [](OptimizerState* s) { s->tensors.at("layer0.weight").at("exp_avg") = Matrix(7, 2); },
       "'layer0.weight/exp_avg' is 7 x 2"},
  };
  for (const Case& c : cases) {
    OptimizerState state = a.optimizer->state();
    c.spoil(&state);
    const std::string bytes = SaveCheckpoint(2, 1.0, a.model.Params(), state, OptimizerState());
    absl::StatusOr<ParsedCheckpoint> parsed = ParseCheckpoint(bytes, b.model.Params());
    ASSERT_FALSE(parsed.ok()) << c.what;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition) << c.what;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.needle)) << c.what;
  }
}

TEST(CheckpointTest, TrainerStateRoundTrips) {
  Trained a(1);
  OptimizerState trainer;
  trainer.step = 2;
  trainer.tensors["head"]["before"] = Matrix::Constant(3, 3, 0.25);
  const std::string bytes = SaveCheckpoint(2, 1.0, a.model.Params(), a.optimizer->state(), trainer);
  absl::StatusOr<ParsedCheckpoint> parsed = ParseCheckpoint(bytes, a.model.Params());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->trainer.step, 2);
  EXPECT_EQ(parsed->trainer.tensors.at("head").at("before"), Matrix::Constant(3, 3, 0.25));
}

}  // namespace
}  // namespace optbench::engine
