// Issue 14, operations: what probes, grpcurl and a graceful stop see of a real coordinator
// process — grpc.health.v1 (SERVING, then NOT_SERVING while it drains), server reflection, and
// a drain that leases nothing while the reports of running jobs go on.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// A job of two evaluations, done in well under a second.
constexpr char kShortJob[] = R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: {name: adam, lr: 0.01}
)";

using grpc::health::v1::HealthCheckResponse;
using testing::RunCli;
using testing::Subprocess;

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
  v1::SubmitSweepResponse sweep = Submit(testing::kLongRunningJob);
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
  v1::SubmitSweepResponse late = Submit(kShortJob);
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

// A Prometheus text page parsed strictly: every sample line is `name{labels} value` of a metric
// announced by HELP and TYPE lines; a histogram's buckets are cumulative and end at +Inf with
// its _count. Returns sample -> value ("name{labels}" as written).
std::map<std::string, double> ParsePrometheus(const std::string& page) {
  std::map<std::string, double> samples;
  std::set<std::string> helped, typed;
  const std::regex sample(R"(([a-z_]+)(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? (\S+))");
  for (absl::string_view line : absl::StrSplit(page, '\n', absl::SkipEmpty())) {
    const std::string l(line);
    if (absl::StartsWith(l, "# HELP ")) {
      helped.insert(l.substr(7, l.find(' ', 7) - 7));
      continue;
    }
    if (absl::StartsWith(l, "# TYPE ")) {
      const std::vector<std::string> parts = absl::StrSplit(l.substr(7), ' ');
      EXPECT_EQ(parts.size(), 2u) << l;
      EXPECT_TRUE(parts.back() == "counter" || parts.back() == "gauge" ||
                  parts.back() == "histogram")
          << l;
      typed.insert(parts.front());
      continue;
    }
    std::smatch m;
    EXPECT_TRUE(std::regex_match(l, m, sample)) << "not a sample: " << l;
    if (m.empty()) continue;
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (typed.count(family) == 0 && absl::EndsWith(family, suffix)) {
        family.resize(family.size() - strlen(suffix));
      }
    }
    EXPECT_EQ(typed.count(family), 1u) << "no TYPE for " << l;
    EXPECT_EQ(helped.count(family), 1u) << "no HELP for " << l;
    double value = 0;
    EXPECT_TRUE(m[4] == "+Inf" || absl::SimpleAtod(std::string(m[4]), &value)) << l;
    EXPECT_TRUE(samples.emplace(std::string(m[1]) + std::string(m[2]), value).second)
        << "twice: " << l;
  }
  return samples;
}

// The optbench_sqlite_write_seconds buckets are cumulative and end in _count.
void ExpectCumulativeHistogram(const std::map<std::string, double>& s, const std::string& name) {
  double previous = 0;
  int buckets = 0;
  for (const auto& [key, value] : s) {
    if (!absl::StartsWith(key, name + "_bucket{")) continue;
    ++buckets;
    if (key == name + "_bucket{le=\"+Inf\"}") {
      EXPECT_EQ(value, s.at(name + "_count"));
    }
  }
  EXPECT_GT(buckets, 2);
  // std::map orders the bounds as strings; check monotonicity in numeric order instead.
  std::vector<std::pair<double, double>> by_bound;
  for (const auto& [key, value] : s) {
    if (!absl::StartsWith(key, name + "_bucket{le=\"")) continue;
    const std::string le = key.substr(name.size() + 12, key.size() - name.size() - 14);
    double bound = 0;
    by_bound.emplace_back(le == "+Inf" ? INFINITY : (absl::SimpleAtod(le, &bound), bound), value);
  }
  std::sort(by_bound.begin(), by_bound.end());
  for (const auto& [bound, count] : by_bound) {
    EXPECT_GE(count, previous) << name << " le=" << bound;
    previous = count;
  }
}

class MetricsTest : public OperationsTest {
 protected:
  std::map<std::string, double> Scrape() {
    httplib::Client client("127.0.0.1", metrics_port_);
    client.set_connection_timeout(5);
    auto response = client.Get("/metrics");
    EXPECT_TRUE(response) << httplib::to_string(response.error());
    if (!response) return {};
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->get_header_value("Content-Type"),
              "text/plain; version=0.0.4; charset=utf-8");
    return ParsePrometheus(response->body);
  }
  int metrics_port_ = 0;
};

TEST_F(MetricsTest, TheScrapeParsesAndItsCountersMove) {
  metrics_port_ = FreePort();
  StartCoordinator({absl::StrCat("--metrics_listen=127.0.0.1:", metrics_port_), "--lease_seconds=2",
                    "--heartbeat_seconds=1"});
  std::map<std::string, double> before = Scrape();
  EXPECT_EQ(before.at("optbench_jobs{state=\"queued\"}"), 0);
  EXPECT_EQ(before.at("optbench_jobs{state=\"diverged\"}"), 0);  // Every state, from the start.
  EXPECT_EQ(before.at("optbench_leases_total"), 0);
  EXPECT_EQ(before.at("optbench_workers{liveness=\"alive\"}"), 0);
  ExpectCumulativeHistogram(before, "optbench_sqlite_write_seconds");

  StartWorker("w");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: [{name: adam, lr: 0.01}, {name: gd, lr: 0.5}]
)");
  ASSERT_EQ(sweep.jobs_size(), 2);
  for (const v1::Job& job : WaitForSweep(sweep.sweep().id(), absl::Seconds(60))) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  }
  {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id("no-such-job");
    v1::Job job;
    EXPECT_EQ(stub_->GetJob(&context, request, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  std::map<std::string, double> after = Scrape();
  EXPECT_EQ(after.at("optbench_jobs{state=\"succeeded\"}"), 2);
  EXPECT_EQ(after.at("optbench_leases_total"), 2);
  EXPECT_EQ(after.at("optbench_workers{liveness=\"alive\"}"), 1);
  // Three evaluations (steps 0, 10, 20) per job, each at least one batch; 4 classes per row.
  EXPECT_GE(after.at("optbench_report_batches_total"), 6);
  EXPECT_GE(after.at("optbench_report_values_total"),
            4 * after.at("optbench_report_batches_total"));
  EXPECT_GT(after.at("optbench_sqlite_write_seconds_count"),
            before.at("optbench_sqlite_write_seconds_count"));
  ExpectCumulativeHistogram(after, "optbench_sqlite_write_seconds");
  EXPECT_EQ(
      after.at(R"(optbench_rpcs_total{method="optbench.v1.Coordinator/SubmitSweep",code="OK"})"),
      1);
  EXPECT_EQ(
      after.at(R"(optbench_rpcs_total{method="optbench.v1.WorkerService/CompleteJob",code="OK"})"),
      2);
  EXPECT_EQ(
      after.at(R"(optbench_rpcs_total{method="optbench.v1.Coordinator/GetJob",code="NOT_FOUND"})"),
      1);
  EXPECT_GE(
      after.at(R"(optbench_rpcs_total{method="optbench.v1.WorkerService/AcquireJob",code="OK"})"),
      2);

  // A worker killed mid-job: its lease expires once and the job is requeued; the worker is lost.
  v1::SubmitSweepResponse long_sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 6}
model: {name: linear}
trainer: {steps: 100000, eval_every: 100}
optimizer: {name: adam, lr: 0.001}
)");
  ASSERT_EQ(long_sweep.jobs_size(), 1);
  v1::Job running = WaitForProgress(long_sweep.jobs(0).id(), 10, absl::Seconds(60));
  ASSERT_EQ(running.state(), v1::JOB_STATE_RUNNING) << running.error();
  workers_.back()->Kill(SIGKILL);
  workers_.back()->Wait();
  std::map<std::string, double> expired;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    absl::SleepFor(absl::Milliseconds(200));
    expired = Scrape();
  } while (expired["optbench_lease_expiries_total"] < 1 && absl::Now() < deadline);
  EXPECT_EQ(expired["optbench_lease_expiries_total"], 1);
  EXPECT_EQ(expired["optbench_requeues_total"], 1);
  EXPECT_EQ(expired["optbench_jobs{state=\"queued\"}"], 1);
  EXPECT_EQ(expired["optbench_workers{liveness=\"lost\"}"], 1);
  EXPECT_EQ(expired["optbench_workers{liveness=\"alive\"}"], 0);

  // Only GET /metrics.
  httplib::Client client("127.0.0.1", metrics_port_);
  auto other = client.Get("/jobs");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST_F(MetricsTest, ABadMetricsAddressIsRefusedByName) {
  Subprocess coordinator;
  ASSERT_TRUE(coordinator.Start({OPTBENCH_COORDINATOR_BIN, "--listen=127.0.0.1:0",
                                 "--db=" + dir_ + "/bad.db", "--metrics_listen=localhost:http"},
                                dir_ + "/bad.log"));
  int status = 0;
  ASSERT_TRUE(coordinator.WaitFor(absl::Seconds(20), &status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_NE(coordinator.Log().find("metrics_listen: 'localhost:http' is not HOST:PORT"),
            std::string::npos)
      << coordinator.Log();
}

// --log_format=json: every line of ours is one JSON object; job events carry job, attempt and
// worker. --log_format=plain (the default) appends the same fields as key=value.
TEST_F(OperationsTest, JobEventsCarryJobAttemptAndWorkerInBothLogFormats) {
  for (const std::string format : {"json", "plain"}) {
    SCOPED_TRACE(format);
    StartCoordinator({"--log_format=" + format});
    testing::Subprocess* worker = StartWorker("w-" + format, {"--log_format=" + format});
    v1::SubmitSweepResponse sweep = Submit(kShortJob);
    ASSERT_EQ(sweep.jobs_size(), 1);
    const std::string id = sweep.jobs(0).id();
    for (const v1::Job& job : WaitForSweep(sweep.sweep().id(), absl::Seconds(60))) {
      ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
    }
    ASSERT_TRUE(WaitForLog(*worker, "OUTCOME_SUCCEEDED", absl::Seconds(10))) << worker->Log();
    const std::string fields =
        format == "json" ? absl::StrCat(R"("job":")", id, R"(","attempt":1,"worker":"w-json"})")
                         : absl::StrCat(" job=", id, " attempt=1 worker=w-plain");
    // The events: leased and succeeded on the coordinator; starts and succeeded on the worker.
    for (const auto& [process, event] :
         {std::pair{coordinator_.get(), std::string("leased to")},
          std::pair{coordinator_.get(), std::string(" succeeded")},
          std::pair{worker, std::string("attempt 1 starts")},
          std::pair{worker, std::string("OUTCOME_SUCCEEDED after 20 steps")}}) {
      bool found = false;
      for (absl::string_view line : absl::StrSplit(process->Log(), '\n')) {
        if (absl::StrContains(line, event) && absl::StrContains(line, id)) {
          found = true;
          EXPECT_TRUE(absl::EndsWith(line, fields)) << line;
        }
      }
      EXPECT_TRUE(found) << event << " not logged:\n" << process->Log();
    }
    const std::regex json_line(
        R"re(\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"(debug|info|warning|error)","component":"[a-z]+","msg":"([^"\\]|\\.)*"(,"[a-z]+":(\d+|"([^"\\]|\\.)*"))*\})re");
    const std::regex text_line(R"([DIWE] \d\d:\d\d:\d\d\.\d{3} \[[a-z]+\] .*)");
    for (testing::Subprocess* process : {coordinator_.get(), worker}) {
      int ours = 0;
      for (absl::string_view l : absl::StrSplit(process->Log(), '\n', absl::SkipEmpty())) {
        const std::string line(l);
        const bool json = std::regex_match(line, json_line);
        const bool text = std::regex_match(line, text_line);
        ours += json || text;
        // gRPC's own lines (if any) are neither; ours are all in the chosen format.
        EXPECT_FALSE(format == "json" ? text : json) << line;
      }
      EXPECT_GE(ours, 2) << process->Log();
    }
    workers_.clear();
    coordinator_.reset();
    std::filesystem::remove(dir_ + "/coordinator.log");  // The next round starts a fresh one.
  }
  Subprocess bad;
  ASSERT_TRUE(bad.Start({OPTBENCH_WORKER_BIN, "--log_format=yaml"}, dir_ + "/bad.log"));
  int status = 0;
  ASSERT_TRUE(bad.WaitFor(absl::Seconds(20), &status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
  EXPECT_NE(bad.Log().find("--log_format=yaml: expected plain or json"), std::string::npos)
      << bad.Log();
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
