#include "spec/source.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace optbench::spec {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

TEST(SourceTest, AJobIdOrASweepWithFiltersRoundTrips) {
  absl::StatusOr<SourceSpec> job = ParseSource(" s-1a2b3c4d-7 ");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->job_id, "s-1a2b3c4d-7");
  EXPECT_TRUE(job->sweep.empty());
  EXPECT_EQ(FormatSource(*job), "s-1a2b3c4d-7");

  absl::StatusOr<SourceSpec> filter = ParseSource("sweep=paper5_train, optimizer = adam,lr=1e-3");
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_TRUE(filter->job_id.empty());
  EXPECT_EQ(filter->sweep, "paper5_train");
  EXPECT_EQ(filter->filter, (std::vector<std::pair<std::string, std::string>>{{"optimizer", "adam"},
                                                                              {"lr", "1e-3"}}));
  EXPECT_EQ(FormatSource(*filter), "sweep=paper5_train,optimizer=adam,lr=1e-3");
  EXPECT_EQ(*ParseSource(FormatSource(*filter)), *filter);
}

TEST(SourceTest, AValueMayHoldCommas) {
  absl::StatusOr<SourceSpec> source = ParseSource("sweep=s,model.hidden=[256, 128],seed=0");
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_EQ(source->filter.size(), 2u);
  EXPECT_EQ(source->filter[0].second, "[256, 128]");
  EXPECT_EQ(source->filter[1].second, "0");
}

TEST(SourceTest, MalformedSourcesNameTheProblemAndBothForms) {
  const struct {
    const char* text;
    const char* needle;
  } cases[] = {
      {"", "empty"},
      {"s-1 s-2", "not a job id"},
      {"optimizer=adam", "not a job id, and a filter starts with sweep="},
      {"sweep=", "label 'sweep' has no value"},
      {"sweep=s,=adam", "has no label"},
      {"sweep=s,optimizer=", "label 'optimizer' has no value"},
      {"sweep=s,sweep=t", "names a sweep twice"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(ParseSource(c.text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::AllOf(HasSubstr(c.needle),
                                          HasSubstr("give a job id (s-1a2b3c4d-0) or a filter "
                                                    "sweep=<id or name>"))))
        << c.text;
  }
}

}  // namespace
}  // namespace optbench::spec
