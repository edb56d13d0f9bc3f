// Metric queries: turns the stored per-class sums of jobs into series per class, per frequency
// group (ALGORITHMS.md 1.4) or overall. Shared by the coordinator's QueryMetrics RPC and by
// `optbench query --db`, which reads a database file directly.
#ifndef OPTBENCH_SERVER_QUERY_H_
#define OPTBENCH_SERVER_QUERY_H_

#include "absl/status/statusor.h"
#include "optbench/v1/coordinator.pb.h"
#include "storage/store.h"

namespace optbench::server {

// Per-class metrics a query may ask for, and the scalars.
//   loss      = sum of per-example loss / examples          (per class, group or split)
//   accuracy  = correct / examples
//   p_true    = sum of true-class probability / examples
//   p_mass    = sum over all examples of predicted probability of the class(es) / split size
//   head_grad_norm, head_gn_trace, head_weight_norm: the output layer's class-row statistics
//             (ALGORITHMS.md 6.2: gradient norm, Gauss-Newton trace, weight norm of row k);
//             a group's value is the mean over its classes.
//   grad_norm, lr, wall_seconds: one value per step (grouping does not apply).
// A group value is the ratio of the sums over its classes (the mean over the group's examples,
// as in the paper), never a mean of per-class means. A class without examples in the split has
// the value NaN.
//
// Errors: InvalidArgument for no target, an unknown metric (lists the known ones), a bad group
// count (allowed 1..1000); NotFound for an unknown job or sweep.
absl::StatusOr<v1::QueryMetricsResponse> QueryMetrics(storage::StoreReader& store,
                                                      const v1::QueryMetricsRequest& request);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_QUERY_H_
