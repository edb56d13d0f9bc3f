#include "proto/convert.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.pb.h"
#include "optbench/v1/types.pb.h"
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
  std::set<std::string> higher_is_better;
  for (const spec::MetricSpec& m : engine::Catalog().Metrics(*valid)) {
    absl::StatusOr<spec::MetricSpec> back = FromProto(ToProto(m));
    ASSERT_TRUE(back.ok()) << m.name << ": " << back.status();
    EXPECT_EQ(*back, m) << m.name;
    if (m.higher_is_better && !m.query.empty()) higher_is_better.insert(m.query);
  }
  // The direction `optbench profile` reaches a target from travels with the declaration.
  EXPECT_EQ(higher_is_better,
            (std::set<std::string>{"accuracy", "accuracy_fgsm", "accuracy_pgd", "p_true"}));
  v1::MetricDeclaration bad;
  bad.set_name("Loss");
  EXPECT_THAT(FromProto(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name 'Loss'")));
  bad.set_name("loss");
  EXPECT_THAT(FromProto(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("'loss' has an unspecified or unknown shape")));
}

// Issue 13 added fields and messages only: every field a released client or server knows keeps its
// number and type, so old and new peers read each other (unknown fields are skipped), and a
// request without the new fields means what it meant before.
TEST(ConvertTest, SweepFieldsOfIssue13AreAdditive) {
  using google::protobuf::Descriptor;
  using google::protobuf::FieldDescriptor;
  struct Field {
    const Descriptor* message;
    const char* name;
    int number;
    FieldDescriptor::Type type;
  };
  const Field fields[] = {
      // As released.
      {v1::Sweep::descriptor(), "id", 1, FieldDescriptor::TYPE_STRING},
      {v1::Sweep::descriptor(), "name", 2, FieldDescriptor::TYPE_STRING},
      {v1::Sweep::descriptor(), "num_jobs", 4, FieldDescriptor::TYPE_INT64},
      {v1::Sweep::descriptor(), "state_counts", 5, FieldDescriptor::TYPE_MESSAGE},
      {v1::ListSweepsRequest::descriptor(), "limit", 1, FieldDescriptor::TYPE_INT32},
      {v1::ListSweepsResponse::descriptor(), "sweeps", 1, FieldDescriptor::TYPE_MESSAGE},
      {v1::SubmitSweepRequest::descriptor(), "max_attempts", 6, FieldDescriptor::TYPE_INT32},
      {v1::GetStatusResponse::descriptor(), "version", 4, FieldDescriptor::TYPE_STRING},
      // Added.
      {v1::Sweep::descriptor(), "tags", 6, FieldDescriptor::TYPE_STRING},
      {v1::Sweep::descriptor(), "note", 7, FieldDescriptor::TYPE_STRING},
      {v1::SubmitSweepRequest::descriptor(), "tags", 7, FieldDescriptor::TYPE_STRING},
      {v1::SubmitSweepRequest::descriptor(), "note", 8, FieldDescriptor::TYPE_STRING},
      {v1::ListSweepsRequest::descriptor(), "tags", 2, FieldDescriptor::TYPE_STRING},
      {v1::ListSweepsRequest::descriptor(), "name_contains", 3, FieldDescriptor::TYPE_STRING},
      {v1::ListSweepsRequest::descriptor(), "has_state", 4, FieldDescriptor::TYPE_ENUM},
      {v1::ListSweepsRequest::descriptor(), "progress", 5, FieldDescriptor::TYPE_ENUM},
      {v1::ListSweepsRequest::descriptor(), "page_token", 6, FieldDescriptor::TYPE_STRING},
      {v1::ListSweepsResponse::descriptor(), "next_page_token", 2, FieldDescriptor::TYPE_STRING},
      {v1::ListSweepsResponse::descriptor(), "total_size", 3, FieldDescriptor::TYPE_INT64},
      {v1::GetStatusResponse::descriptor(), "total_sweeps", 5, FieldDescriptor::TYPE_INT64},
  };
  for (const Field& f : fields) {
    const FieldDescriptor* field = f.message->FindFieldByName(f.name);
    ASSERT_NE(field, nullptr) << f.message->name() << "." << f.name;
    EXPECT_EQ(field->number(), f.number) << f.message->name() << "." << f.name;
    EXPECT_EQ(field->type(), f.type) << f.message->name() << "." << f.name;
  }
  // A sweep from a new server read by an old client: the old fields as they were.
  v1::Sweep sweep;
  sweep.set_id("s-1");
  sweep.set_num_jobs(3);
  sweep.add_tags("paper1");
  sweep.set_note("n");
  v1::Sweep old;
  old.set_id("s-1");
  old.set_num_jobs(3);
  v1::Sweep read;
  ASSERT_TRUE(read.ParseFromString(sweep.SerializeAsString()));
  read.clear_tags();
  read.clear_note();
  EXPECT_EQ(read.SerializeAsString(), old.SerializeAsString());
  // An old client's request: no filters, no note (has_note false: the file's note stays).
  v1::ListSweepsRequest request;
  request.set_limit(5);
  v1::ListSweepsRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(parsed.tags_size(), 0);
  EXPECT_EQ(parsed.has_state(), v1::JOB_STATE_UNSPECIFIED);
  EXPECT_EQ(parsed.progress(), v1::SWEEP_PROGRESS_UNSPECIFIED);
  EXPECT_FALSE(v1::SubmitSweepRequest().has_note());
}

}  // namespace
}  // namespace optbench::proto
