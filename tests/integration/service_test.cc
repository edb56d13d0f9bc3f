// Real processes over real gRPC on loopback: optbench-coordinator and optbench-worker binaries,
// a SQLite file in a temp dir. Checks that what comes back equals the same training done
// in-process, and that a worker killed with SIGKILL mid-job costs nothing but time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "proto/convert.h"
#include "tests/integration/subprocess.h"
#include "worker/engine/catalog.h"
#include "worker/engine/run_job.h"

namespace optbench {
namespace {

using testing::Subprocess;

// Runs a spec in this process and keeps every evaluation.
class CaptureSink : public engine::MetricSink {
 public:
  void OnDatasetInfo(const engine::DatasetInfo& info) override { info_ = info; }
  absl::Status OnEvaluation(const engine::Evaluation& eval) override {
    evals_.push_back(eval);
    return absl::OkStatus();
  }
  engine::DatasetInfo info_;
  std::vector<engine::Evaluation> evals_;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/optbench_it_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (auto& w : workers_) w.reset();
    coordinator_.reset();
    if (HasFailure()) {
      std::cerr << "test files kept in " << dir_ << "\n";
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  // A port that was free a moment ago (for restarting a coordinator on the same address).
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  void StartCoordinator(const std::vector<std::string>& extra = {},
                        std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
                        const std::string& token = "") {
    token_ = token;
    const std::string port_file = dir_ + "/port";
    std::filesystem::remove(port_file);
    std::vector<std::string> argv = {OPTBENCH_COORDINATOR_BIN,
                                     "--listen=127.0.0.1:" + std::to_string(listen_port_),
                                     "--db=" + dir_ + "/optbench.db", "--port_file=" + port_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    coordinator_ = std::make_unique<Subprocess>();
    ASSERT_TRUE(coordinator_->Start(argv, dir_ + "/coordinator.log"));
    int port = 0;
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port)) absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_GT(port, 0) << coordinator_->Log();
    address_ = absl::StrCat("127.0.0.1:", port);
    stub_ = v1::Coordinator::NewStub(grpc::CreateChannel(
        address_, credentials ? credentials : grpc::InsecureChannelCredentials()));
  }

  void Authorize(grpc::ClientContext* context) {
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
  }

  Subprocess* StartWorker(const std::string& id, const std::vector<std::string>& extra = {}) {
    workers_.push_back(std::make_unique<Subprocess>());
    std::vector<std::string> argv = {OPTBENCH_WORKER_BIN, "--coordinator=" + address_, "--slots=1",
                                     "--worker_id=" + id};
    argv.insert(argv.end(), extra.begin(), extra.end());
    EXPECT_TRUE(workers_.back()->Start(argv, dir_ + "/" + id + ".log"));
    return workers_.back().get();
  }

  v1::SubmitSweepResponse Submit(const std::string& text) {
    grpc::ClientContext context;
    Authorize(&context);
    v1::SubmitSweepRequest request;
    request.set_sweep_text(text);
    v1::SubmitSweepResponse response;
    grpc::Status s = stub_->SubmitSweep(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  v1::Job GetJob(const std::string& id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    Authorize(&context);
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::Job job;
    EXPECT_TRUE(stub_->GetJob(&context, request, &job).ok());
    return job;
  }

  // Watches the sweep to the end (bounded by `timeout`); returns the final jobs.
  std::vector<v1::Job> WaitForSweep(const std::string& sweep_id, absl::Duration timeout) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoSeconds(timeout));
    Authorize(&context);
    v1::WatchRequest request;
    request.set_sweep_id(sweep_id);
    auto reader = stub_->Watch(&context, request);
    v1::WatchEvent event;
    v1::WatchEvent last;
    while (reader->Read(&event)) last = event;
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {last.jobs().begin(), last.jobs().end()};
  }

  // Per-class loss of every evaluation, from the coordinator.
  std::map<int64_t, std::vector<double>> QueryPerClass(const std::string& job_id,
                                                       const std::string& metric) {
    grpc::ClientContext context;
    Authorize(&context);
    v1::QueryMetricsRequest request;
    request.set_job_id(job_id);
    request.set_metric(metric);
    request.set_group_by(v1::GROUP_BY_CLASS);
    v1::QueryMetricsResponse response;
    grpc::Status s = stub_->QueryMetrics(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::map<int64_t, std::vector<double>> out;
    for (const v1::SeriesPoint& p : response.series(0).points()) {
      EXPECT_EQ(out.count(p.step()), 0u) << "duplicate step " << p.step();
      out[p.step()] = {p.values().begin(), p.values().end()};
    }
    return out;
  }

  // The same job trained here, as per-class loss by step.
  static std::map<int64_t, std::vector<double>> TrainInProcess(const v1::JobSpec& wire) {
    auto spec = proto::FromProto(wire);
    EXPECT_TRUE(spec.ok());
    auto valid = engine::ValidateJobSpec(*spec);
    EXPECT_TRUE(valid.ok()) << valid.status();
    CaptureSink sink;
    auto result = engine::RunJob(*valid, &sink, [] { return false; });
    EXPECT_TRUE(result.ok()) << result.status();
    std::map<int64_t, std::vector<double>> out;
    for (const engine::Evaluation& e : sink.evals_) {
      const engine::SplitMetrics& train = e.splits[0];
      std::vector<double> loss(train.loss_sum.size());
      for (size_t k = 0; k < loss.size(); ++k) {
        const double n = static_cast<double>(sink.info_.train_class_counts[k]);
        loss[k] = n > 0 ? train.loss_sum[k] / n : std::nan("");
      }
      out[e.step] = loss;
    }
    return out;
  }

  static void ExpectSameSeries(const std::map<int64_t, std::vector<double>>& got,
                               const std::map<int64_t, std::vector<double>>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [step, values] : want) {
      auto it = got.find(step);
      ASSERT_NE(it, got.end()) << "missing step " << step;
      ASSERT_EQ(it->second.size(), values.size());
      for (size_t k = 0; k < values.size(); ++k) {
        if (std::isnan(values[k])) {
          EXPECT_TRUE(std::isnan(it->second[k]));
        } else {
          // Bit-identical: the engine is deterministic and the values travel as doubles.
          EXPECT_EQ(it->second[k], values[k]) << "step " << step << " class " << k;
        }
      }
    }
  }

  // Writes a test CA and a certificate for 127.0.0.1 signed by it: <name>.pem / <name>.key.
  void MakeCertificates() {
    const std::string ext = dir_ + "/san.ext";
    std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    const std::string quiet = " >/dev/null 2>&1";
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto run = [&](const std::string& cmd) {
      ASSERT_EQ(std::system((cmd + quiet).c_str()), 0) << cmd;
    };
    run("cd " + dir_ + " && openssl req -x509" + key +
        " -keyout ca.key -out ca.pem -days 2 -subj /CN=optbench-test-ca");
    for (const char* name : {"server", "client"}) {
      const std::string n = name;
      run("cd " + dir_ + " && openssl req" + key + " -keyout " + n + ".key -out " + n +
          ".csr -subj /CN=" + n);
      run("cd " + dir_ + " && openssl x509 -req -in " + n +
          ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out " + n +
          ".pem");
    }
  }

  std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(bool with_client_cert) {
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    };
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read(dir_ + "/ca.pem");
    if (with_client_cert) {
      ssl.pem_cert_chain = read(dir_ + "/client.pem");
      ssl.pem_private_key = read(dir_ + "/client.key");
    }
    return grpc::SslCredentials(ssl);
  }

  int listen_port_ = 0;
  std::string dir_;
  std::string token_;
  std::string address_;
  std::unique_ptr<Subprocess> coordinator_;
  std::vector<std::unique_ptr<Subprocess>> workers_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

TEST_F(ServiceTest, TwoWorkersRunASweepAndMetricsMatchInProcessTraining) {
  StartCoordinator();
  StartWorker("wa");
  StartWorker("wb");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 40, eval_every: 10, eval_log_spaced: true}
optimizer:
  - {name: gd, lr: 0.5, momentum: 0.9}
  - {name: adam, lr: 0.01}
  - {name: sign_descent, lr: 0.01}
  - {name: normalized_gd, lr: 1.0}
)");
  ASSERT_EQ(sweep.jobs_size(), 4);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(jobs.size(), 4u);
  std::set<std::string> workers_used;
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.id() << ": " << job.error();
    EXPECT_EQ(job.attempt(), 1);
    EXPECT_EQ(job.progress_step(), 40);
    workers_used.insert(job.worker_id());
    auto got = QueryPerClass(job.id(), "loss");
    // Evaluations at 0..5, 10, 20, 30, 40.
    EXPECT_EQ(got.size(), 10u);
    ExpectSameSeries(got, TrainInProcess(job.spec()));
  }
  for (const std::string& w : workers_used) {
    EXPECT_TRUE(w == "wa" || w == "wb") << w;
  }
}

TEST_F(ServiceTest, WorkerKilledMidJobCompletesOnAnotherWorker) {
  StartCoordinator({"--lease_seconds=2", "--heartbeat_seconds=1"});
  Subprocess* doomed = StartWorker("doomed");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: linear}
trainer: {steps: 400, eval_every: 10}
optimizer: {name: adam, lr: 0.001}
)");
  ASSERT_EQ(sweep.jobs_size(), 1);
  const std::string job_id = sweep.jobs(0).id();
  // Wait until it is well under way, then kill the worker without warning.
  v1::Job job;
  for (int i = 0; i < 3000; ++i) {
    job = GetJob(job_id);
    if (job.progress_step() >= 20) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING);
  ASSERT_GE(job.progress_step(), 20) << doomed->Log();
  ASSERT_LT(job.progress_step(), 400) << "job finished before the kill; make it longer";
  doomed->Kill(SIGKILL);
  doomed->Wait();
  StartWorker("rescuer");

  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(180));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 2);
  EXPECT_EQ(jobs[0].worker_id(), "rescuer");
  // Every evaluation exactly once, with the values of an undisturbed run.
  ExpectSameSeries(QueryPerClass(job_id, "loss"), TrainInProcess(jobs[0].spec()));
}

TEST_F(ServiceTest, SigtermHandsTheJobBackWithoutSpendingAnAttempt) {
  StartCoordinator({"--lease_seconds=30", "--heartbeat_seconds=1"});
  Subprocess* preempted = StartWorker("preempted");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: linear}
trainer: {steps: 400, eval_every: 10}
optimizer: {name: sign_descent, lr: 0.0001}
)");
  const std::string job_id = sweep.jobs(0).id();
  v1::Job job;
  for (int i = 0; i < 3000; ++i) {
    job = GetJob(job_id);
    if (job.progress_step() >= 20) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GE(job.progress_step(), 20) << preempted->Log();
  ASSERT_LT(job.progress_step(), 400) << "finished before the signal; make the job longer";
  preempted->Kill(SIGTERM);
  int status = 0;
  ASSERT_TRUE(preempted->WaitFor(absl::Seconds(30), &status)) << preempted->Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << preempted->Log();
  // Handed back at once (not after the 30 s lease), with the attempt not counted.
  job = GetJob(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.attempt(), 0);
  StartWorker("successor");
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 1);
  EXPECT_EQ(jobs[0].worker_id(), "successor");
  ExpectSameSeries(QueryPerClass(job_id, "loss"), TrainInProcess(jobs[0].spec()));
}

TEST_F(ServiceTest, CoordinatorKilledMidSweepRestartsAndLosesNothing) {
  listen_port_ = FreePort();
  StartCoordinator({"--lease_seconds=20", "--heartbeat_seconds=1"});
  StartWorker("wa");
  StartWorker("wb");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: linear}
trainer: {steps: 150, eval_every: 10}
optimizer: {name: adam, lr: [0.001, 0.003, 0.01]}
)");
  ASSERT_EQ(sweep.jobs_size(), 3);
  // Kill it without warning while the first jobs are running.
  v1::Job job;
  for (int i = 0; i < 3000; ++i) {
    job = GetJob(sweep.jobs(0).id());
    if (job.progress_step() >= 20) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING);
  coordinator_->Kill(SIGKILL);
  coordinator_->Wait();
  absl::SleepFor(absl::Seconds(1));
  // Same address, same database: workers re-attach to their leases and resend what was not
  // acknowledged.
  StartCoordinator({"--lease_seconds=20", "--heartbeat_seconds=1"});
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(180));
  ASSERT_EQ(jobs.size(), 3u);
  for (const v1::Job& j : jobs) {
    EXPECT_EQ(j.state(), v1::JOB_STATE_SUCCEEDED) << j.id() << ": " << j.error();
    // Re-attached to the lease (restart well inside it), not requeued.
    EXPECT_EQ(j.attempt(), 1) << j.id();
    ExpectSameSeries(QueryPerClass(j.id(), "loss"), TrainInProcess(j.spec()));
  }
  EXPECT_NE(workers_[0]->Log().find("reconnecting"), std::string::npos) << workers_[0]->Log();
  coordinator_.reset();
  const std::string check = absl::StrCat("sqlite3 ", dir_, "/optbench.db 'PRAGMA integrity_check'");
  FILE* pipe = popen(check.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[64] = {0};
  ASSERT_NE(fgets(buf, sizeof(buf), pipe), nullptr);
  pclose(pipe);
  EXPECT_EQ(std::string(buf), "ok\n");
}

TEST_F(ServiceTest, MalformedDataFileFailsTheJobOnceWithFileAndLine) {
  StartCoordinator();
  StartWorker("w");
  std::ofstream(dir_ + "/bad.csv") << "x1,x2,label\n0.5,1.0,0\n0.25,oops,1\n";
  v1::SubmitSweepResponse sweep = Submit(absl::StrCat(R"(
dataset: {name: csv, train_path: ")",
                                                      dir_, R"(/bad.csv"}
model: {name: linear}
trainer: {steps: 5}
optimizer: {name: gd}
)"));
  ASSERT_EQ(sweep.jobs_size(), 1);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(jobs[0].attempt(), 1);  // Not retried: it would fail the same way.
  EXPECT_NE(jobs[0].error().find("bad.csv:3"), std::string::npos) << jobs[0].error();
  EXPECT_NE(jobs[0].error().find("oops"), std::string::npos) << jobs[0].error();
  // The worker is still alive and serving.
  EXPECT_TRUE(workers_[0]->Alive()) << workers_[0]->Log();
}

TEST_F(ServiceTest, WorkerRefusesAJobOverItsMemoryLimit) {
  StartCoordinator();
  StartWorker("small", {"--max_memory_mb=1"});
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 8}
model: {name: linear}
trainer: {steps: 5}
optimizer: {name: adam}
)");
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(jobs[0].attempt(), 1);
  EXPECT_NE(jobs[0].error().find("over this worker's limit of 1 MiB"), std::string::npos)
      << jobs[0].error();
  EXPECT_TRUE(workers_[0]->Alive()) << workers_[0]->Log();
}

constexpr char kSmallSweep[] = R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: [{name: adam, lr: 0.01}, {name: gd, lr: 0.5}]
)";

TEST_F(ServiceTest, TlsAndTokensEndToEnd) {
  MakeCertificates();
  std::ofstream(dir_ + "/tokens") << "worker-token-for-tests worker w\n"
                                  << "client-token-for-tests submit,read me\n";
  std::ofstream(dir_ + "/worker.token") << "worker-token-for-tests\n";
  StartCoordinator({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key",
                    "--auth_tokens=" + dir_ + "/tokens"},
                   TlsCredentials(false), "client-token-for-tests");
  StartWorker("tls-worker",
              {"--tls_ca=" + dir_ + "/ca.pem", "--token_file=" + dir_ + "/worker.token"});
  v1::SubmitSweepResponse sweep = Submit(kSmallSweep);
  ASSERT_EQ(sweep.jobs_size(), 2);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(jobs.size(), 2u);
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
    ExpectSameSeries(QueryPerClass(job.id(), "loss"), TrainInProcess(job.spec()));
  }
  // A plaintext client cannot talk to the TLS port; a TLS client without a token is refused.
  auto plain =
      v1::Coordinator::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext c1;
  c1.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetStatusResponse status;
  EXPECT_EQ(plain->GetStatus(&c1, v1::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext c2;
  EXPECT_EQ(stub_->GetStatus(&c2, v1::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // Tokens never reach the logs.
  for (const std::string& log : {coordinator_->Log(), workers_[0]->Log()}) {
    EXPECT_EQ(log.find("token-for-tests"), std::string::npos) << log;
  }
}

TEST_F(ServiceTest, MutualTlsRequiresAClientCertificate) {
  MakeCertificates();
  StartCoordinator({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key",
                    "--tls_client_ca=" + dir_ + "/ca.pem"},
                   TlsCredentials(true));
  StartWorker("mtls-worker", {"--tls_ca=" + dir_ + "/ca.pem", "--tls_cert=" + dir_ + "/client.pem",
                              "--tls_key=" + dir_ + "/client.key"});
  v1::SubmitSweepResponse sweep = Submit(kSmallSweep);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(jobs.size(), 2u);
  for (const v1::Job& job : jobs) EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  auto no_cert = v1::Coordinator::NewStub(grpc::CreateChannel(address_, TlsCredentials(false)));
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetStatusResponse status;
  EXPECT_EQ(no_cert->GetStatus(&c, v1::GetStatusRequest(), &status).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServiceTest, NonLoopbackListenWithoutAuthIsRefused) {
  // Refused before anything is bound.
  Subprocess coordinator;
  ASSERT_TRUE(
      coordinator.Start({OPTBENCH_COORDINATOR_BIN, "--listen=0.0.0.0:0", "--db=" + dir_ + "/x.db"},
                        dir_ + "/refused.log"));
  int status = 0;
  ASSERT_TRUE(coordinator.WaitFor(absl::Seconds(30), &status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_NE(coordinator.Log().find("refusing to listen on non-loopback address"), std::string::npos)
      << coordinator.Log();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.db"));
}

}  // namespace
}  // namespace optbench
