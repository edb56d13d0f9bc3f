// Every RPC of optbench.v1.Coordinator and optbench.v1.WorkerService as one table, so that service
// tests treat them alike (authentication, bad input): a row names the RPC, the role it needs, a
// request it accepts, and how to issue it with any request of its type. Adding an RPC to a
// service means one row here; services_test.cc checks that the table covers every method.
//
//   for (const Rpc& rpc : AllRpcs(coordinator_stub.get(), worker_stub.get())) {
//     grpc::ClientContext context;
//     absl::Status status = rpc.call(&context, *rpc.sample);
//   }
#ifndef OPTBENCH_TESTS_SERVER_RPC_TABLE_H_
#define OPTBENCH_TESTS_SERVER_RPC_TABLE_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/check.h"
#include "common/grpc_status.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "optbench/v1/worker.grpc.pb.h"
#include "server/auth.h"

namespace optbench::testing {

// A small valid sweep: three jobs of a few steps on a synthetic data set.
inline constexpr char kTinySweep[] = R"(name: tiny
dataset: {name: heavy_tail_uniform, m: 3}
model: {name: linear}
trainer: {steps: 5, eval_every: 1}
optimizer:
  - {name: gd, lr: [0.1, 0.2]}
  - {name: adam}
)";

struct Rpc {
  std::string name;   // The method's name in its service, e.g. "SubmitSweep".
  server::Role role;  // The role it needs when authentication is on.
  // A request that passes the RPC's own validation (the answer may still be NotFound). Calling
  // every sample with the right role creates one sweep (SubmitSweep's) and changes nothing else.
  std::shared_ptr<const google::protobuf::Message> sample;
  // Issues the RPC with `request` (of the RPC's request type: a mismatch aborts) and returns its
  // final status, as an absl::Status (codes map one to one). A streaming call sends `request` as
  // its one message and is read to its end.
  std::function<absl::Status(grpc::ClientContext* context,
                             const google::protobuf::Message& request)>
      call;
};

namespace internal_rpc {

template <typename Request>
const Request& As(const google::protobuf::Message& message) {
  const auto* request = dynamic_cast<const Request*>(&message);
  OPTBENCH_CHECK(request != nullptr);  // A test passed a request of another RPC.
  return *request;
}

template <typename Stub, typename Request, typename Response>
Rpc Unary(std::string name, server::Role role, Stub* stub,
          grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
          Request sample) {
  return {std::move(name), role, std::make_shared<Request>(std::move(sample)),
          [stub, method](grpc::ClientContext* context, const google::protobuf::Message& request) {
            Response response;
            return FromGrpcStatus((stub->*method)(context, As<Request>(request), &response));
          }};
}

// A server-streaming RPC: its replies are read to the end of the stream.
template <typename Stub, typename Request, typename Response>
Rpc ServerStreaming(std::string name, server::Role role, Stub* stub,
                    std::unique_ptr<grpc::ClientReader<Response>> (Stub::*method)(
                        grpc::ClientContext*, const Request&),
                    Request sample) {
  return {std::move(name), role, std::make_shared<Request>(std::move(sample)),
          [stub, method](grpc::ClientContext* context, const google::protobuf::Message& request) {
            auto reader = (stub->*method)(context, As<Request>(request));
            Response response;
            while (reader->Read(&response)) {
            }
            return FromGrpcStatus(reader->Finish());
          }};
}

}  // namespace internal_rpc

// The table, calling through the given stubs (which must outlive it).
inline std::vector<Rpc> AllRpcs(v1::Coordinator::Stub* coordinator,
                                v1::WorkerService::Stub* workers) {
  using internal_rpc::As;
  using internal_rpc::ServerStreaming;
  using internal_rpc::Unary;
  using server::Role;
  using C = v1::Coordinator::Stub;
  using W = v1::WorkerService::Stub;
  const std::string job = "s-00000000-0";

  v1::SubmitSweepRequest submit;
  submit.set_sweep_text(kTinySweep);
  v1::CancelRequest cancel;
  cancel.set_sweep_id("s-00000000");
  v1::UpdateSweepRequest update;
  update.set_sweep_id("s-00000000");
  update.add_add_tags("tag");
  v1::DeleteSweepRequest delete_sweep;
  delete_sweep.set_sweep_id("s-00000000");
  v1::WatchRequest watch;
  watch.set_job_id(job);
  v1::QueryMetricsRequest query;
  query.set_job_id(job);
  v1::RegisterWorkerRequest register_worker;
  register_worker.set_worker_id("w");
  register_worker.set_slots(1);
  v1::AcquireJobRequest acquire;
  acquire.set_worker_id("w");
  v1::ReportRequest report;
  report.set_job_id(job);
  report.set_lease_token("t");
  report.mutable_heartbeat();
  v1::CompleteJobRequest complete;
  complete.set_job_id(job);
  complete.set_lease_token("t");
  complete.set_outcome(v1::OUTCOME_SUCCEEDED);
  v1::LoadCheckpointRequest load;
  load.set_job_id(job);
  load.set_lease_token("t");
  v1::FailJobRequest fail;
  fail.set_job_id(job);
  fail.set_lease_token("t");
  v1::DownloadKeptModelRequest download;
  download.set_job_id(job);
  v1::LoadSourceModelRequest load_source;
  load_source.set_job_id(job);
  load_source.set_lease_token("t");

  return {
      Unary("SubmitSweep", Role::kSubmit, coordinator, &C::SubmitSweep, submit),
      Unary("Cancel", Role::kSubmit, coordinator, &C::Cancel, cancel),
      Unary("UpdateSweep", Role::kSubmit, coordinator, &C::UpdateSweep, update),
      Unary("DeleteSweep", Role::kSubmit, coordinator, &C::DeleteSweep, delete_sweep),
      Unary("GetSweep", Role::kRead, coordinator, &C::GetSweep, v1::GetSweepRequest()),
      Unary("ListSweeps", Role::kRead, coordinator, &C::ListSweeps, v1::ListSweepsRequest()),
      Unary("GetJob", Role::kRead, coordinator, &C::GetJob, v1::GetJobRequest()),
      Unary("ListJobs", Role::kRead, coordinator, &C::ListJobs, v1::ListJobsRequest()),
      ServerStreaming("DownloadKeptModel", Role::kRead, coordinator, &C::DownloadKeptModel,
                      download),
      ServerStreaming("Watch", Role::kRead, coordinator, &C::Watch, watch),
      Unary("QueryMetrics", Role::kRead, coordinator, &C::QueryMetrics, query),
      Unary("ListComponents", Role::kRead, coordinator, &C::ListComponents,
            v1::ListComponentsRequest()),
      Unary("GetStatus", Role::kRead, coordinator, &C::GetStatus, v1::GetStatusRequest()),
      Unary("RegisterWorker", Role::kWorker, workers, &W::RegisterWorker, register_worker),
      Unary("AcquireJob", Role::kWorker, workers, &W::AcquireJob, acquire),
      {"Report", Role::kWorker, std::make_shared<v1::ReportRequest>(report),
       [workers](grpc::ClientContext* context, const google::protobuf::Message& request) {
         auto stream = workers->Report(context);
         stream->Write(As<v1::ReportRequest>(request));
         stream->WritesDone();
         v1::ReportResponse ack;
         while (stream->Read(&ack)) {
         }
         return FromGrpcStatus(stream->Finish());
       }},
      Unary("CompleteJob", Role::kWorker, workers, &W::CompleteJob, complete),
      Unary("LoadCheckpoint", Role::kWorker, workers, &W::LoadCheckpoint, load),
      Unary("FailJob", Role::kWorker, workers, &W::FailJob, fail),
      ServerStreaming("LoadSourceModel", Role::kWorker, workers, &W::LoadSourceModel, load_source),
  };
}

// The row named `name` of `rpcs`; aborts if there is none (a test names an RPC that is not in the
// table).
inline const Rpc& FindRpc(const std::vector<Rpc>& rpcs, const std::string& name) {
  for (const Rpc& rpc : rpcs) {
    if (rpc.name == name) return rpc;
  }
  OPTBENCH_CHECK(false && "no such RPC in the table");
  return rpcs.front();
}

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_SERVER_RPC_TABLE_H_
