// Metric queries: turns the stored per-class values of jobs into series per class, per frequency
// group (ALGORITHMS.md 1.4), per item or overall, as each metric's declaration says it groups.
// Shared by the coordinator's QueryMetrics RPC and by `optbench query --db`, which reads a
// database file directly.
#ifndef OPTBENCH_SERVER_QUERY_H_
#define OPTBENCH_SERVER_QUERY_H_

#include "absl/status/statusor.h"
#include "optbench/v1/coordinator.pb.h"
#include "spec/catalog.h"
#include "storage/store.h"

namespace optbench::server {

// A metric is asked for by its query name as its jobs declare it (server/wire.h JobMetrics: what
// the run declared, else `catalog`'s declarations for the job's spec); empty = each job's primary
// metric. A group's value follows the declaration's aggregate (spec/metric.h): the ratio of the
// sums over its classes for sums (the mean over the group's targets, as in the paper, never a
// mean of per-class means), the mean over its classes for per-class values, the mean over its
// items for per-item metrics. Scalars have one value per step (grouping does not apply). A class
// without targets in the split has the value NaN. With aggregate "seed" the response also holds
// the series aggregated over seeds (server/aggregate.h AggregateOverSeeds).
//
// Errors: InvalidArgument for no target, an aggregate other than "" and "seed", a bad group count
// (allowed 1..1000), a metric no target job declares (the message lists what they declare), or a
// split the metric or the jobs do not have (a train-only metric for the test split; a test split of
// jobs without one); NotFound for an unknown job or sweep; DataLoss for stored declarations that do
// not parse.
absl::StatusOr<v1::QueryMetricsResponse> QueryMetrics(storage::StoreReader& store,
                                                      const spec::Catalog& catalog,
                                                      const v1::QueryMetricsRequest& request);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_QUERY_H_
