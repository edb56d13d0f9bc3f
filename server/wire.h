// Translations between storage records and optbench.v1 messages, shared by the gRPC services and
// the read-only query path of the client.
#ifndef OPTBENCH_SERVER_WIRE_H_
#define OPTBENCH_SERVER_WIRE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "optbench/v1/types.pb.h"
#include "storage/store.h"
#include "worker/engine/params.h"

namespace optbench::server {

// True for a model-diagnostic metric name (engine Diagnostic on the wire): "diag.<name>" with
// <name> 1..64 characters of [a-z0-9_].
bool IsDiagnosticMetric(std::string_view metric);
inline constexpr size_t kMaxDiagnosticName = 64;

v1::JobState StateToProto(storage::JobState state);
// nullopt for JOB_STATE_UNSPECIFIED.
std::optional<storage::JobState> StateFromProto(v1::JobState state);

// The spec bytes are parsed back into the message; labels come from summary_json.
v1::Job JobToProto(const storage::JobRecord& job);
v1::Sweep SweepToProto(const storage::SweepRecord& sweep,
                       const std::vector<std::pair<storage::JobState, int64_t>>& counts);
v1::ComponentDeclaration ComponentToProto(const engine::ComponentSpec& spec);
// Every job of `sweep_id`, in index order, read page by page. The store's errors.
absl::StatusOr<std::vector<storage::JobRecord>> AllJobsOfSweep(storage::StoreReader& store,
                                                               const std::string& sweep_id);
// Every registered component of `kind` ("dataset", "model", "optimizer"; empty = all), from the
// catalog compiled into this binary. InvalidArgument for an unknown kind.
absl::StatusOr<std::vector<v1::ComponentDeclaration>> ListComponentDeclarations(
    const std::string& kind);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_WIRE_H_
