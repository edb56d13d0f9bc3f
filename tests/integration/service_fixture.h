// ServiceFixture: the base of the integration tests that run real optbench-coordinator and
// optbench-worker processes over loopback gRPC with a SQLite file in a temp dir. It starts and
// reaps the processes, talks to the coordinator's API, and trains the same job in this process
// so tests can compare what the service stored with an undisturbed run.
#ifndef OPTBENCH_TESTS_INTEGRATION_SERVICE_FIXTURE_H_
#define OPTBENCH_TESTS_INTEGRATION_SERVICE_FIXTURE_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "proto/convert.h"
#include "tests/integration/subprocess.h"
#include "worker/engine/run_job.h"

namespace optbench::testing {

// One job long enough (1,500 steps, a few seconds) for a coordinator to be stopped, drained or
// restarted while it runs, with an evaluation every 50 steps to compare with an in-process run.
inline constexpr char kLongRunningJob[] = R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: linear}
trainer: {steps: 1500, eval_every: 50}
optimizer: {name: adam, lr: 0.001}
)";

// Runs a spec in this process and keeps every evaluation.
class CaptureSink : public engine::RunSink {
 public:
  void OnRunInfo(const engine::RunInfo& info) override { info_ = info; }
  absl::Status OnEvaluation(const engine::MetricBatch& eval) override {
    evals_.push_back(eval);
    return absl::OkStatus();
  }
  engine::RunInfo info_;
  std::vector<engine::MetricBatch> evals_;
};

// Not thread-safe: one test thread drives it. Owns the processes it starts (killed and reaped in
// TearDown) and the temp dir (removed unless the test failed).
class ServiceFixture : public ::testing::Test {
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
    const int port = LaunchCoordinator({}, "127.0.0.1:" + std::to_string(listen_port_), extra);
    if (port == 0) return;
    ConnectClient(absl::StrCat("127.0.0.1:", port), credentials, token);
  }

  // Starts the coordinator listening on `listen` (HOST:PORT; port 0 = any) with its command line
  // run by `launcher` (empty, or e.g. {"ip", "netns", "exec", NS} to start it elsewhere).
  // Returns the port it bound (coordinator_port_), or 0 with a test failure.
  int LaunchCoordinator(const std::vector<std::string>& launcher, const std::string& listen,
                        const std::vector<std::string>& extra) {
    const std::string port_file = dir_ + "/port";
    std::filesystem::remove(port_file);
    std::vector<std::string> argv = launcher;
    argv.insert(argv.end(), {OPTBENCH_COORDINATOR_BIN, "--listen=" + listen,
                             "--db=" + dir_ + "/optbench.db", "--port_file=" + port_file});
    argv.insert(argv.end(), extra.begin(), extra.end());
    coordinator_ = std::make_unique<Subprocess>();
    if (!coordinator_->Start(argv, dir_ + "/coordinator.log")) {
      ADD_FAILURE() << "cannot start " << argv[0];
      return 0;
    }
    int port = 0;
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port)) absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_GT(port, 0) << coordinator_->Log();
    coordinator_port_ = port;
    return port;
  }

  // Points this test's client (stub_, address_) at `address`, with `credentials` (plaintext if
  // null) and `token` (none if empty).
  void ConnectClient(const std::string& address,
                     std::shared_ptr<grpc::ChannelCredentials> credentials,
                     const std::string& token) {
    token_ = token;
    address_ = address;
    // Every evaluation of a job with many classes can exceed gRPC's default 4 MiB answer.
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    stub_ = v1::Coordinator::NewStub(grpc::CreateCustomChannel(
        address_, credentials ? credentials : grpc::InsecureChannelCredentials(), args));
  }

  void Authorize(grpc::ClientContext* context) {
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
  }

  Subprocess* StartWorker(const std::string& id, const std::vector<std::string>& extra = {}) {
    return StartWorkerVia(address_, id, extra);
  }

  // A worker that dials `coordinator` (e.g. a relay in front of the coordinator) instead, its
  // command line run by `launcher` (as in LaunchCoordinator).
  Subprocess* StartWorkerVia(const std::string& coordinator, const std::string& id,
                             const std::vector<std::string>& extra = {},
                             const std::vector<std::string>& launcher = {}) {
    workers_.push_back(std::make_unique<Subprocess>());
    std::vector<std::string> argv = launcher;
    argv.insert(argv.end(), {OPTBENCH_WORKER_BIN, "--coordinator=" + coordinator, "--slots=1",
                             "--worker_id=" + id});
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

  // Polls the job until `done` holds for it or `timeout` passes; returns the last state seen.
  v1::Job WaitForJob(const std::string& id, const std::function<bool(const v1::Job&)>& done,
                     absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    v1::Job job = GetJob(id);
    while (!done(job) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
      job = GetJob(id);
    }
    return job;
  }

  // Polls the job until its stored progress reaches `step` or it is over (neither queued nor
  // running), or `timeout` passes; returns the last state seen.
  v1::Job WaitForProgress(const std::string& id, int64_t step, absl::Duration timeout) {
    return WaitForJob(
        id,
        [step](const v1::Job& j) {
          const bool over = j.state() != v1::JOB_STATE_QUEUED && j.state() != v1::JOB_STATE_RUNNING;
          return over || j.progress_step() >= step;
        },
        timeout);
  }

  // Waits up to `timeout` for `text` to appear in the process's log.
  static bool WaitForLog(const Subprocess& process, const std::string& text,
                         absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (process.Log().find(text) == std::string::npos) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return true;
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

  // Checks that `worker`, cut off while it ran `job_id`, was refused its reports under the lease
  // that moved on and dropped the job (waits up to two minutes for it).
  static void ExpectDroppedStaleJob(const Subprocess& worker, const std::string& job_id) {
    ASSERT_TRUE(WaitForLog(worker, "abandoned", absl::Seconds(120))) << worker.Log();
    EXPECT_NE(worker.Log().find("stale lease for job " + job_id), std::string::npos)
        << worker.Log();
  }

  // Submits a short job and checks that `worker_id` runs it, on its first attempt, with the
  // values of an undisturbed run: that worker serves (call with it the only worker left).
  void ExpectRunsNextJob(const std::string& worker_id) {
    v1::SubmitSweepResponse next = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: {name: gd, lr: 0.5}
)");
    std::vector<v1::Job> jobs = WaitForSweep(next.sweep().id(), absl::Seconds(120));
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
    EXPECT_EQ(jobs[0].worker_id(), worker_id);
    EXPECT_EQ(jobs[0].attempt(), 1);
    ExpectSameSeries(QueryPerClass(jobs[0].id(), "loss"), TrainInProcess(jobs[0].spec()));
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
    CaptureSink sink;
    auto result = engine::RunJob(*spec, &sink, [] { return false; });
    EXPECT_TRUE(result.ok()) << result.status();
    std::map<int64_t, std::vector<double>> out;
    for (const engine::MetricBatch& e : sink.evals_) {
      const engine::MetricValue* loss_sum = e.Find("loss_sum", engine::Split::kTrain);
      EXPECT_NE(loss_sum, nullptr);
      if (loss_sum == nullptr) continue;
      std::vector<double> loss(loss_sum->values.size());
      for (size_t k = 0; k < loss.size(); ++k) {
        const double n = static_cast<double>(sink.info_.train_class_counts[k]);
        loss[k] = n > 0 ? loss_sum->values[k] / n : std::nan("");
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

  // Writes a test CA and server and client certificates signed by it for `subject_alt_names`
  // (openssl's syntax): <name>.pem / <name>.key.
  void MakeCertificates(const std::string& subject_alt_names = "IP:127.0.0.1,DNS:localhost") {
    const std::string ext = dir_ + "/san.ext";
    std::ofstream(ext) << "subjectAltName=" << subject_alt_names << "\n";
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

  // Writes the coordinator's tokens file (tokens) and a worker's token file (worker.token) in
  // dir_; returns the token of a client that may submit and read.
  std::string MakeTokens() {
    std::ofstream(dir_ + "/tokens") << "worker-token-for-tests worker w\n"
                                    << "client-token-for-tests submit,read me\n";
    std::ofstream(dir_ + "/worker.token") << "worker-token-for-tests\n";
    return "client-token-for-tests";
  }

  // Whether each worker the coordinator lists is lost (not heard from for more than a lease).
  std::map<std::string, bool> WorkersLost() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    Authorize(&context);
    v1::GetStatusResponse status;
    grpc::Status s = stub_->GetStatus(&context, v1::GetStatusRequest(), &status);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::map<std::string, bool> lost;
    for (const v1::WorkerInfo& w : status.workers()) lost[w.id()] = w.lost();
    return lost;
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
  int coordinator_port_ = 0;  // The port the coordinator bound (listen_port_ or a free one).
  std::string dir_;
  std::string token_;
  std::string address_;
  std::unique_ptr<Subprocess> coordinator_;
  std::vector<std::unique_ptr<Subprocess>> workers_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_INTEGRATION_SERVICE_FIXTURE_H_
