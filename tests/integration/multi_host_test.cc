// Issue 14, several hosts: the coordinator and two workers each in a network namespace of their
// own, joined by veth pairs, run a sweep over TLS with tokens, and one worker's link goes down
// mid-job for longer than the lease, then comes back. Every job completes with the values of an
// undisturbed run, and the cut-off worker serves again. Needs root; skipped without it.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "tests/integration/network_namespace.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"
#include "tests/integration/tcp_relay.h"
#include "tests/testing/status_matchers.h"

namespace optbench {
namespace {

using testing::LoopbackAddress;
using testing::NetworkNamespace;
using testing::Subprocess;
using testing::TcpRelay;

// Four jobs of about a second each: long enough that the cut lands mid-job, short enough to
// train each a second time in this process.
constexpr char kSweep[] = R"(
dataset: {name: heavy_tail_uniform, m: 6}
model: {name: linear}
trainer: {steps: 1000, eval_every: 25}
optimizer: [{name: adam, lr: 0.001}, {name: sign_descent, lr: 0.0001}]
seed: [0, 1]
)";
constexpr int64_t kSteps = 1000;
constexpr int64_t kEvalEvery = 25;
constexpr int kWorkers = 2;

// The program a process runs, as the kernel sees it: checks that a process started through
// `ip netns exec` is the program itself, so killing the Subprocess kills the program.
std::string Executable(pid_t pid) {
  std::error_code error;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", error);
}

std::string Canonical(const std::string& path) { return std::filesystem::canonical(path).string(); }

// Namespaces of this process's own (the pid tells concurrent runs apart): "coord" and "w1",
// "w2", with link i joining coord (10.250.i.1/24, interface "veth-wI") and worker i
// (10.250.i.2/24, interface "veth-coord"). The subnets exist only inside these namespaces, so
// they cannot clash with the host's.
class MultiHostTest : public testing::ServiceFixture {
 protected:
  void SetUp() override {
    ServiceFixture::SetUp();
    if (HasFatalFailure()) return;
    const std::string why = testing::WhyNoNetworkNamespaces();
    if (!why.empty()) GTEST_SKIP() << "needs network namespaces: " << why;
    const std::string prefix = absl::StrCat("optbench-", getpid(), "-");
    auto coordinator_ns = NetworkNamespace::Create(prefix + "coord");
    if (!coordinator_ns.ok()) {
      GTEST_SKIP() << "network namespaces cannot be created here: " << coordinator_ns.status();
    }
    coordinator_ns_ = *std::move(coordinator_ns);
    for (int i = 1; i <= kWorkers; ++i) {
      ASSERT_OK_AND_ASSIGN(std::unique_ptr<NetworkNamespace> ns,
                           NetworkNamespace::Create(absl::StrCat(prefix, "w", i)));
      ASSERT_OK(testing::AddVethPair(
          {coordinator_ns_.get(), absl::StrCat("veth-w", i), CoordinatorAddress(i) + "/24"},
          {ns.get(), "veth-coord", absl::StrCat("10.250.", i, ".2/24")}));
      worker_ns_.push_back(std::move(ns));
    }
  }

  // The coordinator's address on link i.
  static std::string CoordinatorAddress(int i) { return absl::StrCat("10.250.", i, ".1"); }

  // Starts the coordinator in its namespace with TLS and tokens, connects this test's client to
  // it, and starts worker i in namespace i dialing the coordinator's address on link i.
  void StartService(const std::vector<std::string>& coordinator_flags) {
    MakeCertificates(absl::StrCat("IP:", CoordinatorAddress(1), ",IP:", CoordinatorAddress(2),
                                  ",DNS:localhost"));
    const std::string client_token = MakeTokens();
    std::vector<std::string> flags = {"--tls_cert=" + dir_ + "/server.pem",
                                      "--tls_key=" + dir_ + "/server.key",
                                      "--auth_tokens=" + dir_ + "/tokens"};
    flags.insert(flags.end(), coordinator_flags.begin(), coordinator_flags.end());
    const int port = LaunchCoordinator(coordinator_ns_->Launcher(), "0.0.0.0:0", flags);
    ASSERT_GT(port, 0);
    EXPECT_EQ(Executable(coordinator_->pid()), Canonical(OPTBENCH_COORDINATOR_BIN));
    // Its log says where it listens: every interface, not only loopback.
    EXPECT_NE(coordinator_->Log().find(absl::StrCat("listening on 0.0.0.0:", port)),
              std::string::npos)
        << coordinator_->Log();

    // This process stays in the root namespace: its calls go over a Unix socket to a relay that
    // dials the coordinator on its namespace's loopback, so no address outside the namespaces
    // is used and the cuts below leave the test's own path alone. A unix: target is checked
    // against the certificate's DNS:localhost.
    ASSERT_OK_AND_ASSIGN(
        relay_, TcpRelay::StartIntoNamespace(dir_ + "/coordinator.sock", coordinator_ns_->name(),
                                             LoopbackAddress(port)));
    ConnectClient(relay_->address(), TlsCredentials(false), client_token);

    for (int i = 1; i <= kWorkers; ++i) {
      Subprocess* worker =
          StartWorkerVia(absl::StrCat(CoordinatorAddress(i), ":", port), absl::StrCat("w", i),
                         {"--tls_ca=" + dir_ + "/ca.pem", "--token_file=" + dir_ + "/worker.token"},
                         worker_ns_[i - 1]->Launcher());
      ASSERT_TRUE(WaitForLog(*worker, "registered", absl::Seconds(60))) << worker->Log();
      EXPECT_EQ(Executable(worker->pid()), Canonical(OPTBENCH_WORKER_BIN));
    }
  }

  // Polls until one of the sweep's jobs runs on `worker_id` past `step`; returns it (an empty
  // job on timeout).
  v1::Job WaitForJobOn(const v1::SubmitSweepResponse& sweep, const std::string& worker_id,
                       int64_t step, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (const v1::Job& submitted : sweep.jobs()) {
        v1::Job job = GetJob(submitted.id());
        if (job.state() == v1::JOB_STATE_RUNNING && job.worker_id() == worker_id &&
            job.progress_step() >= step) {
          return job;
        }
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return v1::Job();
  }

  // Polls until the coordinator lists `worker_id` as lost (or as not lost); true if it did in
  // time.
  bool WaitForLost(const std::string& worker_id, bool lost, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      const std::map<std::string, bool> workers = WorkersLost();
      auto it = workers.find(worker_id);
      if (it != workers.end() && it->second == lost) return true;
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  // Destroyed in reverse: the relay (whose thread is inside coordinator_ns_) before the
  // namespaces; ServiceFixture::TearDown has killed the processes in them before either.
  std::unique_ptr<NetworkNamespace> coordinator_ns_;
  std::vector<std::unique_ptr<NetworkNamespace>> worker_ns_;
  std::unique_ptr<TcpRelay> relay_;
};

TEST_F(MultiHostTest, WorkerCutOffMidJobCostsAnAttemptNotResults) {
  ASSERT_NO_FATAL_FAILURE(StartService({"--lease_seconds=3", "--heartbeat_seconds=1"}));
  Subprocess* cut_off = workers_[0].get();
  Subprocess* steady = workers_[1].get();
  v1::SubmitSweepResponse sweep = Submit(kSweep);
  ASSERT_EQ(sweep.jobs_size(), 4);
  const v1::Job running = WaitForJobOn(sweep, "w1", 20, absl::Seconds(60));
  ASSERT_FALSE(running.id().empty()) << "no job ran on w1\n" << cut_off->Log();
  ASSERT_LT(running.progress_step(), kSteps) << "finished before the cut; make it longer";
  const std::string job_id = running.id();

  // Pull w1's cable: nothing passes either way, heartbeats included, so its lease lapses and
  // the job is requeued while w1, unaware, still holds it.
  ASSERT_OK(worker_ns_[0]->Ip({"link", "set", "veth-coord", "down"}));
  v1::Job job = WaitForJob(
      job_id, [](const v1::Job& j) { return j.attempt() >= 2; }, absl::Seconds(60));
  ASSERT_EQ(job.attempt(), 2) << coordinator_->Log();
  EXPECT_NE(coordinator_->Log().find("lease of job " + job_id + " expired"), std::string::npos)
      << coordinator_->Log();
  EXPECT_TRUE(WaitForLost("w1", true, absl::Seconds(30))) << coordinator_->Log();
  EXPECT_EQ(WorkersLost(), (std::map<std::string, bool>{{"w1", true}, {"w2", false}}));
  EXPECT_TRUE(cut_off->Alive()) << cut_off->Log();
  ASSERT_OK(worker_ns_[0]->Ip({"link", "set", "veth-coord", "up"}));

  // Every job completes, each evaluation stored exactly once with the values of an undisturbed
  // run; only the cut job spent a second attempt.
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(180));
  ASSERT_EQ(jobs.size(), 4u);
  for (const v1::Job& done : jobs) {
    SCOPED_TRACE("job " + done.id());
    EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error();
    EXPECT_EQ(done.attempt(), done.id() == job_id ? 2 : 1);
    EXPECT_EQ(done.progress_step(), kSteps);
    const std::map<int64_t, std::vector<double>> stored = QueryPerClass(done.id(), "loss");
    EXPECT_EQ(stored.size(), static_cast<size_t>(kSteps / kEvalEvery + 1));  // 0, 25, ..., 1000.
    ExpectSameSeries(stored, TrainInProcess(done.spec()));
  }

  // Back on its link, w1's reports under the old lease are refused and it drops the job; the
  // coordinator hears from it again.
  ASSERT_NO_FATAL_FAILURE(ExpectDroppedStaleJob(*cut_off, job_id));
  EXPECT_TRUE(WaitForLost("w1", false, absl::Seconds(60))) << cut_off->Log();

  // And it serves again: with w2 gone, the next job runs on w1, over the link that was cut.
  steady->Kill(SIGTERM);
  int status = 0;
  ASSERT_TRUE(steady->WaitFor(absl::Seconds(30), &status)) << steady->Log();
  ExpectRunsNextJob("w1");
}

}  // namespace
}  // namespace optbench
