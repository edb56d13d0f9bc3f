// Real processes over real gRPC on loopback: optbench-coordinator and optbench-worker binaries,
// a SQLite file in a temp dir. Checks that what comes back equals the same training done
// in-process, and that a worker killed with SIGKILL mid-job costs nothing but time.
#include <stdlib.h>
#include <unistd.h>

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
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"
#include "worker/engine/catalog.h"
#include "worker/engine/run_job.h"

namespace optbench {
namespace {

using testing::Subprocess;

using ServiceTest = testing::ServiceFixture;

// Runs `sql` on the database file with the sqlite3 shell (a separate process, as an operator
// would) and returns its output without the trailing newline.
std::string SqliteShell(const std::string& db, const std::string& sql) {
  const std::string command = absl::StrCat("sqlite3 -bail '", db, "' \"", sql, "\" 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
  pclose(pipe);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// The number after `prefix` in the log (-1 if absent).
int64_t NumberAfter(const std::string& log, const std::string& prefix) {
  const size_t at = log.find(prefix);
  if (at == std::string::npos) return -1;
  return std::atoll(log.c_str() + at + prefix.size());
}

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
  v1::Job job = WaitForProgress(job_id, 20, absl::Seconds(30));
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
  // Silent for more than a lease (the requeue took one), the killed worker shows as lost; the
  // rescuer, which long-polls for work, does not.
  EXPECT_EQ(WorkersLost(), (std::map<std::string, bool>{{"doomed", true}, {"rescuer", false}}));
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
  v1::Job job = WaitForProgress(job_id, 20, absl::Seconds(30));
  ASSERT_GE(job.progress_step(), 20) << preempted->Log();
  // The job has no checkpoint_every and the worker's time policy (5 minutes) never fires: the
  // only checkpoint is the one taken on the way out.
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
  // The successor went on from where the preempted worker stopped instead of from step 0.
  const int64_t handed_back = NumberAfter(preempted->Log(), "handed back at step ");
  EXPECT_GE(handed_back, 20) << preempted->Log();
  EXPECT_EQ(NumberAfter(workers_.back()->Log(), "resuming from the checkpoint at step "),
            handed_back)
      << workers_.back()->Log();
}

TEST_F(ServiceTest, KilledWorkerResumesFromTheNewestCheckpointThatIsNotCorrupt) {
  StartCoordinator({"--lease_seconds=2", "--heartbeat_seconds=1"});
  Subprocess* doomed = StartWorker("doomed");
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: mlp, hidden: [16]}
trainer: {steps: 600, eval_every: 10, batch_size: 64, checkpoint_every: 25}
optimizer: {name: adam, lr: 0.001}
)");
  ASSERT_EQ(sweep.jobs_size(), 1);
  const std::string job_id = sweep.jobs(0).id();
  const std::string db = dir_ + "/optbench.db";
  const std::string steps_sql =
      absl::StrCat("SELECT group_concat(step) FROM (SELECT step FROM checkpoints WHERE job_id = '",
                   job_id, "' ORDER BY step)");
  // Two checkpoints stored (the coordinator keeps the newest two), then kill -9.
  std::string stored;
  for (int i = 0; i < 6000; ++i) {
    stored = SqliteShell(db, steps_sql);
    if (stored.find(',') != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  doomed->Kill(SIGKILL);
  doomed->Wait();
  v1::Job job = GetJob(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING) << "finished before the kill; make it longer";
  stored = SqliteShell(db, steps_sql);
  const size_t comma = stored.find(',');
  ASSERT_NE(comma, std::string::npos) << stored << "\n" << doomed->Log();
  const int64_t older = std::atoll(stored.c_str());
  const int64_t newest = std::atoll(stored.c_str() + comma + 1);
  ASSERT_EQ(newest - older, 25) << stored;
  // Flip one byte in the middle of the newest, as a bad disk would.
  ASSERT_EQ(SqliteShell(db, absl::StrCat("UPDATE checkpoints SET data = substr(data, 1, 99) || "
                                         "(CASE WHEN substr(data, 100, 1) = x'00' THEN x'01' "
                                         "ELSE x'00' END) || substr(data, 101) WHERE job_id = '",
                                         job_id, "' AND step = ", newest)),
            "");

  Subprocess* rescuer = StartWorker("rescuer");
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(180));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 2);
  const std::string log = rescuer->Log();
  EXPECT_NE(log.find(absl::StrCat("discarding the checkpoint at step ", newest,
                                  ": DATA_LOSS: checkpoint: checksum mismatch")),
            std::string::npos)
      << log;
  EXPECT_EQ(NumberAfter(log, "resuming from the checkpoint at step "), older) << log;
  // Every evaluation exactly once, equal to an undisturbed run; the finished job's checkpoints
  // are gone and the file is sound.
  ExpectSameSeries(QueryPerClass(job_id, "loss"), TrainInProcess(jobs[0].spec()));
  EXPECT_EQ(SqliteShell(db, "SELECT count(*) FROM checkpoints"), "0");
  EXPECT_EQ(SqliteShell(db, "PRAGMA integrity_check"), "ok");
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
  v1::Job job = WaitForProgress(sweep.jobs(0).id(), 20, absl::Seconds(30));
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
  EXPECT_EQ(SqliteShell(dir_ + "/optbench.db", "PRAGMA integrity_check"), "ok");
}

// A coordinator down for 1, 2 and 5 leases (2 s) and restarted on the same file: its expiry times
// were written before the outage, but it gives running jobs one lease of grace, and the worker,
// retrying its connection at most a second apart, is back inside it. The job keeps its first
// attempt and its results.
TEST_F(ServiceTest, CoordinatorOutagesOfSeveralLeasesCostNoAttempt) {
  listen_port_ = FreePort();
  const std::vector<std::string> flags = {"--lease_seconds=2", "--heartbeat_seconds=1"};
  StartCoordinator(flags);
  StartWorker("steady");
  v1::SubmitSweepResponse sweep = Submit(testing::kLongRunningJob);
  ASSERT_EQ(sweep.jobs_size(), 1);
  const std::string job_id = sweep.jobs(0).id();
  int64_t progress = 0;
  for (int leases : {1, 2, 5}) {
    SCOPED_TRACE(absl::StrCat("outage of ", leases, " leases"));
    v1::Job job = WaitForProgress(job_id, progress + 20, absl::Seconds(30));
    ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING) << job.error();
    ASSERT_LT(job.progress_step(), 1500) << "finished before the outage; make it longer";
    progress = job.progress_step();
    coordinator_->Kill(SIGKILL);
    coordinator_->Wait();
    absl::SleepFor(absl::Seconds(2 * leases));
    StartCoordinator(flags);
  }
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 1);
  EXPECT_EQ(jobs[0].worker_id(), "steady");
  ExpectSameSeries(QueryPerClass(job_id, "loss"), TrainInProcess(jobs[0].spec()));
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

// Paper 4's task through the real coordinator and worker: a sweep of two parts (the exact
// solver, and Adam on the penalty form) runs to the end, and what the coordinator stores is what
// the task reports in process.
TEST_F(ServiceTest, ConvexReluSweepRunsAndStoresWhatTheTaskReports) {
  StartCoordinator();
  StartWorker("w1");
  v1::SubmitSweepResponse sweep = Submit(R"(
name: convex
parts:
  - task: convex_relu
    dataset: {name: zipf_gaussian, classes: 2, min_samples: 20, alpha: 0, test_fraction: 0.5}
    convex: {patterns: 20, max_iters: 300, eval_every: 50, loss_function: [logistic, robust_hinge]}
  - task: convex_relu
    dataset: {name: zipf_gaussian, classes: 2, min_samples: 20, alpha: 0, test_fraction: 0.5}
    optimizer: {name: adam, lr: 0.01}
    convex: {patterns: 20, steps: 100, eval_every: 25, loss_function: logistic}
)");
  ASSERT_EQ(sweep.jobs_size(), 3);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(jobs.size(), 3u);
  for (const v1::Job& job : jobs) {
    ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
    ExpectSameSeries(QueryPerClass(job.id(), "loss"), TrainInProcess(job.spec()));
  }
}

TEST_F(ServiceTest, ConvexReluJobOverTheMemoryLimitNamesThePatterns) {
  StartCoordinator();
  StartWorker("small", {"--max_memory_mb=1"});
  v1::SubmitSweepResponse sweep = Submit(R"(
task: convex_relu
dataset: {name: zipf_gaussian, classes: 2, min_samples: 200}
convex: {patterns: 20000}
)");
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(jobs[0].error().find("over this worker's limit of 1 MiB"), std::string::npos)
      << jobs[0].error();
  EXPECT_NE(jobs[0].error().find("convex.patterns"), std::string::npos) << jobs[0].error();
}

constexpr char kSmallSweep[] = R"(
dataset: {name: heavy_tail_uniform, m: 4}
model: {name: linear}
trainer: {steps: 20, eval_every: 10}
optimizer: [{name: adam, lr: 0.01}, {name: gd, lr: 0.5}]
)";

TEST_F(ServiceTest, TlsAndTokensEndToEnd) {
  MakeCertificates();
  const std::string client_token = MakeTokens();
  StartCoordinator({"--tls_cert=" + dir_ + "/server.pem", "--tls_key=" + dir_ + "/server.key",
                    "--auth_tokens=" + dir_ + "/tokens"},
                   TlsCredentials(false), client_token);
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
