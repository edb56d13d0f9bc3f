// Aggregation of metric series over seeds (`optbench query --aggregate seed`): the mean, sample
// standard deviation, count and 95 % Student-t confidence interval per setting, step and group.
#ifndef OPTBENCH_REPORT_AGGREGATE_H_
#define OPTBENCH_REPORT_AGGREGATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "optbench/v1/coordinator.pb.h"

namespace optbench::report {

// The aggregations QueryMetricsRequest.aggregate accepts, for messages: "seed".
inline constexpr const char* kAggregateChoices = "seed";

// OK for "" (none) and "seed"; InvalidArgument naming the value and what is accepted otherwise.
absl::Status CheckAggregate(const std::string& aggregate);

// The 0.975 quantile of Student's t distribution with `df` >= 1 degrees of freedom, exact to
// about 1e-10: the t whose two-sided tail 1 - I_{df/(df+t^2)}(df/2, 1/2) is 0.05 (Abramowitz &
// Stegun 26.7.1, the regularized incomplete beta function by the continued fraction of Numerical
// Recipes 6.4), found by bisection.
double StudentT975(int64_t df);

// Fills response->aggregates from response->series: a setting is the jobs whose labels are equal
// but for `seed` (jobs without labels, or with a seed only, are one setting named by nothing). Each
// step any
// job of the setting has is aggregated over the jobs that have it, and in each group over the
// finite values (NaN, a class without targets in the split, is left out of n); n = 0 gives mean
// NaN, n = 1 gives std and the interval NaN. Groups are matched by position: the jobs of a setting
// share their data set, so their groups agree.
void AggregateOverSeeds(v1::QueryMetricsResponse* response);

}  // namespace optbench::report

#endif  // OPTBENCH_REPORT_AGGREGATE_H_
