// Translations between storage records and optbench.v1 messages, shared by the gRPC services and
// the read-only query path of the client.
#ifndef OPTBENCH_SERVER_WIRE_H_
#define OPTBENCH_SERVER_WIRE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "optbench/v1/coordinator.pb.h"
#include "optbench/v1/types.pb.h"
#include "spec/catalog.h"
#include "spec/metric.h"
#include "storage/store.h"

namespace optbench::server {

v1::JobState StateToProto(storage::JobState state);
// nullopt for JOB_STATE_UNSPECIFIED.
std::optional<storage::JobState> StateFromProto(v1::JobState state);

// The spec bytes are parsed back into the message; labels come from summary_json.
v1::Job JobToProto(const storage::JobRecord& job);
v1::Sweep SweepToProto(const storage::SweepRecord& sweep,
                       const std::vector<std::pair<storage::JobState, int64_t>>& counts);
// The metrics a job reports: those its run declared (JobRecord::metrics), else the catalog's
// declarations for its spec (a job that has not run, or whose worker declares none). DataLoss for
// stored bytes that do not parse.
absl::StatusOr<std::vector<spec::MetricSpec>> JobMetrics(const storage::JobRecord& job,
                                                         const spec::Catalog& catalog);
// Every job of `sweep_id`, in index order, read page by page. The store's errors.
absl::StatusOr<std::vector<storage::JobRecord>> AllJobsOfSweep(storage::StoreReader& store,
                                                               const std::string& sweep_id);
// Every registered component of `kind` ("dataset", "model", "optimizer", "objective") or every
// task ("task"); empty = all of them. InvalidArgument for an unknown kind.
absl::StatusOr<v1::ListComponentsResponse> ListComponentDeclarations(const spec::Catalog& catalog,
                                                                     const std::string& kind);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_WIRE_H_
