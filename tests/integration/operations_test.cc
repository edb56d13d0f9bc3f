// Issue 14, operations: what probes, grpcurl and a graceful stop see of a real coordinator
// process — grpc.health.v1 (SERVING, then NOT_SERVING while it drains), server reflection, and
// a drain that leases nothing while the reports of running jobs go on.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "reflection_subset.grpc.pb.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"

namespace optbench {
namespace {

using grpc::health::v1::HealthCheckResponse;
using testing::RunCli;

class OperationsTest : public testing::ServiceFixture {
 protected:
  // The health answer for `service` ("" = the whole server), or UNKNOWN when the call fails.
  HealthCheckResponse::ServingStatus Health(
      const std::string& service, std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr) {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        address_, credentials ? credentials : grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status s = stub->Check(&context, request, &response);
    EXPECT_TRUE(s.ok()) << service << ": " << s.error_message();
    return s.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
  }

  // The services server reflection lists; the call's status in *status.
  std::vector<std::string> ReflectedServices(grpc::Status* status) {
    auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub->ServerReflectionInfo(&context);
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    request.set_list_services("*");
    std::vector<std::string> names;
    grpc::reflection::v1alpha::ServerReflectionResponse response;
    if (stream->Write(request) && stream->Read(&response)) {
      for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
    }
    stream->WritesDone();
    *status = stream->Finish();
    std::sort(names.begin(), names.end());
    return names;
  }
};

TEST_F(OperationsTest, HealthAndReflectionAnswerWithoutAToken) {
  MakeCertificates();
  std::ofstream(dir_ + "/tokens") << "client-token-for-tests submit,read me\n";
  StartCoordinator({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key",
                    "--auth_tokens=" + dir_ + "/tokens"},
                   TlsCredentials(false), "client-token-for-tests");
  // Probes carry no token: health answers them, while the API itself refuses them.
  EXPECT_EQ(Health("", TlsCredentials(false)), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("optbench.v1.Coordinator", TlsCredentials(false)), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("optbench.v1.WorkerService", TlsCredentials(false)),
            HealthCheckResponse::SERVING);
  testing::Result cli = RunCli(absl::StrCat("health --coordinator ", address_, " --tls_ca ", dir_,
                                            "/ca.pem --timeout_seconds 5"));
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_EQ(cli.output, "SERVING\n");
  cli = RunCli(absl::StrCat("status --coordinator ", address_, " --tls_ca ", dir_, "/ca.pem"));
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_NE(cli.output.find("token"), std::string::npos) << cli.output;
  // A service the server does not have.
  auto stub =
      grpc::health::v1::Health::NewStub(grpc::CreateChannel(address_, TlsCredentials(false)));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no.such.Service");
  HealthCheckResponse response;
  EXPECT_EQ(stub->Check(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  // Nobody there: the probe fails, with a reason, inside its timeout.
  const absl::Time start = absl::Now();
  cli =
      RunCli(absl::StrCat("health --coordinator 127.0.0.1:", FreePort(), " --timeout_seconds 0.5"));
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_NE(cli.output.find("optbench health: "), std::string::npos) << cli.output;
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  cli = RunCli("health --timeout_seconds 0");
  EXPECT_EQ(cli.exit_code, 2) << cli.output;
  EXPECT_NE(cli.output.find("--timeout_seconds: '0'"), std::string::npos) << cli.output;
}

TEST_F(OperationsTest, ReflectionListsTheServicesUnlessTurnedOff) {
  StartCoordinator();
  grpc::Status status;
  std::vector<std::string> services = ReflectedServices(&status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(services, (std::vector<std::string>{
                          "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                          "optbench.v1.Coordinator", "optbench.v1.WorkerService"}));
  coordinator_.reset();
  StartCoordinator({"--reflection=false"});
  services = ReflectedServices(&status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_TRUE(services.empty());
}

// SIGTERM: health turns NOT_SERVING at once; for --drain_seconds nothing is leased (an idle
// worker leaves a new job queued) while the running job's reports are still stored; then the
// process exits 0. Restarted, the coordinator lets the same attempt finish with every result.
TEST_F(OperationsTest, ADrainReportsNotServingLeasesNothingAndKeepsReports) {
  listen_port_ = FreePort();
  const std::vector<std::string> flags = {"--drain_seconds=4", "--lease_seconds=3",
                                          "--heartbeat_seconds=1"};
  StartCoordinator(flags);
  StartWorker("busy");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: linear}
trainer: {steps: 1500, eval_every: 50}
optimizer: {name: adam, lr: 0.001}
)");
  ASSERT_EQ(sweep.jobs_size(), 1);
  const std::string running = sweep.jobs(0).id();
  v1::Job job = WaitForProgress(running, 20, absl::Seconds(60));
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING) << job.error();
  StartWorker("idle");
  EXPECT_EQ(Health(""), HealthCheckResponse::SERVING);

  coordinator_->Kill(SIGTERM);
  ASSERT_TRUE(WaitForLog(*coordinator_, "draining", absl::Seconds(5))) << coordinator_->Log();
  EXPECT_EQ(Health(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health("optbench.v1.WorkerService"), HealthCheckResponse::NOT_SERVING);
  testing::Result cli = RunCli(absl::StrCat("health --coordinator ", address_));
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_EQ(cli.output, "NOT_SERVING\n");
  // Reads and submissions are still served; the idle worker gets nothing.
  v1::SubmitSweepResponse late = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: {name: adam, lr: 0.01}
)");
  ASSERT_EQ(late.jobs_size(), 1);
  const int64_t before = GetJob(running).progress_step();
  v1::Job advanced = WaitForProgress(running, before + 50, absl::Seconds(2));
  EXPECT_GT(advanced.progress_step(), before) << "reports stopped during the drain";
  EXPECT_EQ(GetJob(late.jobs(0).id()).state(), v1::JOB_STATE_QUEUED);

  int status = 0;
  ASSERT_TRUE(coordinator_->WaitFor(absl::Seconds(20), &status)) << coordinator_->Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(coordinator_->Log().find("stopped"), std::string::npos) << coordinator_->Log();

  StartCoordinator(flags);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 1);
  EXPECT_EQ(jobs[0].worker_id(), "busy");
  ExpectSameSeries(QueryPerClass(running, "loss"), TrainInProcess(jobs[0].spec()));
  std::vector<v1::Job> late_jobs = WaitForSweep(late.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(late_jobs.size(), 1u);
  EXPECT_EQ(late_jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << late_jobs[0].error();
}

// A second signal ends the drain at once.
TEST_F(OperationsTest, ASecondSignalStopsWithoutWaitingOutTheDrain) {
  StartCoordinator({"--drain_seconds=600"});
  coordinator_->Kill(SIGTERM);
  ASSERT_TRUE(WaitForLog(*coordinator_, "draining", absl::Seconds(5))) << coordinator_->Log();
  coordinator_->Kill(SIGINT);
  int status = 0;
  ASSERT_TRUE(coordinator_->WaitFor(absl::Seconds(20), &status)) << coordinator_->Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace optbench
