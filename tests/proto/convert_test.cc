#include "proto/convert.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/catalog.h"

namespace optbench::proto {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

// A job as a v1 writer (before tasks and settings maps) sends it.
v1::JobSpec V1Job() {
  v1::JobSpec wire;
  wire.mutable_dataset()->set_name("heavy_tail_uniform");
  (*wire.mutable_dataset()->mutable_params())["m"].set_int_value(4);
  wire.mutable_model()->set_name("linear");
  wire.mutable_optimizer()->set_name("adam");
  (*wire.mutable_optimizer()->mutable_params())["lr"].set_double_value(0.01);
  wire.mutable_trainer()->set_steps(20);
  wire.set_seed(3);
  return wire;
}

TEST(ConvertTest, AV1JobKeepsItsMeaning) {
  absl::StatusOr<spec::JobSpec> parsed = FromProto(V1Job());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->task, "");  // The default task.
  EXPECT_EQ(parsed->component("dataset").name, "heavy_tail_uniform");
  EXPECT_EQ(parsed->component("optimizer").params.at("lr"), spec::ParamValue(0.01));
  EXPECT_EQ(parsed->seed, 3u);
  // v1: 0 means the default for chunk_rows and eval_every, "" for the schedule.
  EXPECT_EQ(parsed->settings.count("chunk_rows"), 0u);
  EXPECT_EQ(parsed->settings.count("eval_every"), 0u);
  EXPECT_EQ(parsed->settings.count("schedule"), 0u);
  EXPECT_EQ(parsed->settings.at("steps"), spec::ParamValue(int64_t{20}));
  absl::StatusOr<spec::JobSpec> valid = engine::Catalog().Validate(*parsed);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(spec::GetInt(valid->settings, "chunk_rows"), 4096);
  EXPECT_EQ(spec::GetInt(valid->settings, "eval_every"), 10);
  EXPECT_EQ(spec::GetString(valid->settings, "schedule"), "constant");
  // steps 0 is not "unset": it stays an error, as in v1.
  v1::JobSpec zero = V1Job();
  zero.mutable_trainer()->set_steps(0);
  EXPECT_THAT(
      engine::Catalog().Validate(*FromProto(zero)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trainer.steps: 0 is out of range")));
}

TEST(ConvertTest, ValidatedSpecsRoundTripAndStillSpeakV1) {
  absl::StatusOr<spec::JobSpec> valid = engine::Catalog().Validate(*FromProto(V1Job()));
  ASSERT_TRUE(valid.ok());
  const v1::JobSpec wire = ToProto(*valid);
  // A v1 reader finds the train task's parts where it always did.
  EXPECT_EQ(wire.dataset().name(), "heavy_tail_uniform");
  EXPECT_EQ(wire.optimizer().name(), "adam");
  EXPECT_EQ(wire.trainer().steps(), 20);
  EXPECT_EQ(wire.trainer().chunk_rows(), 4096);
  EXPECT_EQ(wire.trainer().schedule(), "constant");
  // Slots and settings without a v1 field travel in the maps.
  EXPECT_EQ(wire.components().at("objective").name(), "cross_entropy");
  EXPECT_EQ(wire.settings().at("steps").int_value(), 20);
  absl::StatusOr<spec::JobSpec> back = FromProto(wire);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *valid);
}

TEST(ConvertTest, AParameterWithoutATypeIsNamed) {
  v1::JobSpec wire = V1Job();
  (*wire.mutable_model()->mutable_params())["bias"];  // No kind set.
  EXPECT_THAT(FromProto(wire), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("model.bias: value has no type set")));
  v1::JobSpec settings = V1Job();
  (*settings.mutable_settings())["steps"];
  EXPECT_THAT(FromProto(settings), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("settings.steps: value has no type set")));
}

TEST(ConvertTest, MetricDeclarationsRoundTripAndBadOnesAreNamed) {
  absl::StatusOr<spec::JobSpec> valid = engine::Catalog().Validate(*FromProto(V1Job()));
  ASSERT_TRUE(valid.ok());
  for (const spec::MetricSpec& m : engine::Catalog().Metrics(*valid)) {
    absl::StatusOr<spec::MetricSpec> back = FromProto(ToProto(m));
    ASSERT_TRUE(back.ok()) << m.name << ": " << back.status();
    EXPECT_EQ(*back, m) << m.name;
  }
  v1::MetricDeclaration bad;
  bad.set_name("Loss");
  EXPECT_THAT(FromProto(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name 'Loss'")));
  bad.set_name("loss");
  EXPECT_THAT(FromProto(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("'loss' has an unspecified or unknown shape")));
}

}  // namespace
}  // namespace optbench::proto
