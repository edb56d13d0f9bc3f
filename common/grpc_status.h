// Conversions between absl::Status and grpc::Status (codes map one to one).
#ifndef OPTBENCH_COMMON_GRPC_STATUS_H_
#define OPTBENCH_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace optbench {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace optbench

#endif  // OPTBENCH_COMMON_GRPC_STATUS_H_
