// The one translation between the wire types (optbench.v1) and the engine's plain types, used by
// the coordinator (validation at submit), the worker (running a job) and the client.
#ifndef OPTBENCH_PROTO_CONVERT_H_
#define OPTBENCH_PROTO_CONVERT_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "optbench/v1/types.pb.h"
#include "worker/engine/job_spec.h"
#include "worker/engine/params.h"

namespace optbench::proto {

engine::ParamValue FromProto(const v1::ParamValue& value);
v1::ParamValue ToProto(const engine::ParamValue& value);

// InvalidArgument if a parameter value has no kind set (names the field).
absl::StatusOr<engine::JobSpec> FromProto(const v1::JobSpec& spec);
v1::JobSpec ToProto(const engine::JobSpec& spec);

// Labels <-> the JSON object stored in the database ({"optimizer": "adam", "lr": "0.001"}).
std::string LabelsToJson(const std::map<std::string, std::string>& labels);
std::map<std::string, std::string> LabelsFromJson(const std::string& json);  // {} if malformed.
// `s` as a JSON string literal, quotes included.
std::string JsonQuote(const std::string& s);

}  // namespace optbench::proto

#endif  // OPTBENCH_PROTO_CONVERT_H_
