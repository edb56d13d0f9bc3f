#include "worker/engine/kept_model.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/engine/model/mlp.h"
#include "worker/engine/param_values.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

MlpModel Mlp(uint64_t seed, int64_t hidden = 3, bool bias = true) {
  return MlpModel(MlpOptions{4, {hidden}, 3, bias, DenseInit::kKaimingUniform, false}, seed);
}

// The values of every parameter, to check that a failed load wrote nothing.
std::vector<Matrix> Values(const std::vector<ParamSlot>& params) {
  std::vector<Matrix> out;
  for (const ParamSlot& slot : params) out.push_back(*slot.value);
  return out;
}

TEST(KeptModelTest, RoundTripsEveryParameterExactly) {
  MlpModel a = Mlp(1);
  MlpModel b = Mlp(2);  // Other values everywhere.
  ASSERT_NE(*b.Params()[0].value, *a.Params()[0].value);
  const std::string bytes = SaveKeptModel(a.Params());
  ASSERT_TRUE(LoadKeptModel(bytes, b.Params()).ok());
  const std::vector<ParamSlot> pa = a.Params(), pb = b.Params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(*pa[i].value, *pb[i].value) << pa[i].id;
  EXPECT_EQ(SaveKeptModel(pb), bytes);  // The same parameters save to the same bytes.
}

TEST(KeptModelTest, EveryFlippedByteAndEveryTruncationIsDataLossAndWritesNothing) {
  const std::string bytes = SaveKeptModel(Mlp(1).Params());
  MlpModel b = Mlp(2);
  const std::vector<Matrix> before = Values(b.Params());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x40;
    const absl::Status s = LoadKeptModel(bad, b.Params());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i << ": " << s;
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    const absl::Status s = LoadKeptModel(std::string_view(bytes).substr(0, n), b.Params());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "length " << n << ": " << s;
  }
  EXPECT_EQ(LoadKeptModel(bytes + "x", b.Params()).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Values(b.Params()), before);
}

TEST(KeptModelTest, AModelOfOtherShapesIsFailedPreconditionNamingTheSlot) {
  const std::string bytes = SaveKeptModel(Mlp(1, /*hidden=*/3).Params());
  MlpModel wider = Mlp(1, /*hidden=*/5);
  const std::vector<Matrix> before = Values(wider.Params());
  absl::Status s = LoadKeptModel(bytes, wider.Params());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("kept model parameter 'layer0.weight' is 3 x 4; this model's is 5 x 4"));
  EXPECT_EQ(Values(wider.Params()), before);

  MlpModel no_bias = Mlp(1, 3, /*bias=*/false);
  s = LoadKeptModel(bytes, no_bias.Params());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("kept model holds 4 parameter tensors"));
}

TEST(KeptModelTest, TheParametersOfACheckpointAreNotAKeptModel) {
  MlpModel a = Mlp(1);
  const absl::Status s = LoadKeptModel(SaveParamValues(a.Params(), /*step=*/7), a.Params());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()), HasSubstr("step 7"));
}

}  // namespace
}  // namespace optbench::engine
