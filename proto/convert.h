// The one translation between the wire types (optbench.v1) and the spec vocabulary (spec/): job
// specs, parameter values, and the declarations of components, tasks and metrics. Used by the
// coordinator, the worker and the client.
#ifndef OPTBENCH_PROTO_CONVERT_H_
#define OPTBENCH_PROTO_CONVERT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "optbench/v1/types.pb.h"
#include "spec/component.h"
#include "spec/job_spec.h"
#include "spec/metric.h"
#include "spec/params.h"

namespace optbench::proto {

spec::ParamValue FromProto(const v1::ParamValue& value);
v1::ParamValue ToProto(const spec::ParamValue& value);

// Job specs. The v1 fields of the train task (dataset, model, optimizer, aux_optimizer and the
// TrainerSpec fields) are written for the slots and settings of those names, so that readers of
// v1 see what they always saw; every setting is also written to the `settings` map, which a
// reader takes whole when it is not empty (a v1 writer leaves it empty: its TrainerSpec fields
// are read with their v1 meaning, 0 = default for chunk_rows and eval_every).
// FromProto: InvalidArgument if a parameter value has no kind set (names the field).
absl::StatusOr<spec::JobSpec> FromProto(const v1::JobSpec& spec);
v1::JobSpec ToProto(const spec::JobSpec& spec);

// Declarations.
v1::MetricDeclaration ToProto(const spec::MetricSpec& metric);
// InvalidArgument naming the problem for a declaration no spec::MetricSpec can be (an invalid
// name, an unspecified shape, split set or aggregate).
absl::StatusOr<spec::MetricSpec> FromProto(const v1::MetricDeclaration& metric);
absl::StatusOr<std::vector<spec::MetricSpec>> MetricsFromProto(
    const google::protobuf::RepeatedPtrField<v1::MetricDeclaration>& metrics);
v1::ParamDeclaration ToProto(const spec::ParamSpec& param);
v1::ComponentDeclaration ToProto(const spec::ComponentSpec& component);
v1::TaskDeclaration ToProto(const spec::TaskSpec& task);

// Labels <-> the JSON object stored in the database ({"optimizer": "adam", "lr": "0.001"}).
std::string LabelsToJson(const std::map<std::string, std::string>& labels);
std::map<std::string, std::string> LabelsFromJson(const std::string& json);  // {} if malformed.

}  // namespace optbench::proto

#endif  // OPTBENCH_PROTO_CONVERT_H_
