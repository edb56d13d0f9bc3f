// Issue 5, network cut: a worker reaches the coordinator through a TcpRelay that the test can
// black-hole (a pulled cable: silence, no FIN, no RST) or reset. A cut longer than the lease
// costs the job an attempt, never data; a shorter one costs nothing; and the cut-off worker,
// once back, can neither write to the job that moved on nor stop serving.
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "tests/integration/proc_stats.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"
#include "tests/integration/tcp_relay.h"

namespace optbench {
namespace {

using testing::Subprocess;
using testing::TcpRelay;
using testing::WaitUntilIdle;

// Long enough that the cut lands mid-job, small enough (~1 s) to train three times per test.
constexpr char kLongJob[] = R"(
dataset: {name: heavy_tail_uniform, m: 6}
model: {name: linear}
trainer: {steps: 400, eval_every: 10}
optimizer: {name: adam, lr: 0.001}
)";
constexpr int64_t kLongJobSteps = 400;

class NetworkCutTest : public testing::ServiceFixture {
 protected:
  // Starts the coordinator with `lease_seconds`, a relay in front of it, and worker `id` behind
  // the relay; submits kLongJob and waits until the worker is well into it. Returns the job id.
  std::string StartJobBehindRelay(int lease_seconds, const std::string& id) {
    StartCoordinator({absl::StrCat("--lease_seconds=", lease_seconds), "--heartbeat_seconds=1"});
    auto relay = TcpRelay::Start(coordinator_port_);
    EXPECT_TRUE(relay.ok()) << relay.status();
    if (!relay.ok()) return "";
    relay_ = *std::move(relay);
    worker_ = StartWorkerVia(relay_->address(), id);
    v1::SubmitSweepResponse sweep = Submit(kLongJob);
    EXPECT_EQ(sweep.jobs_size(), 1);
    if (sweep.jobs_size() != 1) return "";
    sweep_id_ = sweep.sweep().id();
    const std::string job_id = sweep.jobs(0).id();
    v1::Job job = WaitForProgress(job_id, 20, absl::Seconds(60));
    EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING) << worker_->Log();
    EXPECT_EQ(job.worker_id(), id);
    EXPECT_GE(job.progress_step(), 20) << worker_->Log();
    EXPECT_LT(job.progress_step(), kLongJobSteps) << "finished before the cut; make it longer";
    return job_id;
  }

  // The job's end state, checked to have every evaluation exactly once with the values of an
  // undisturbed run. Returns the stored per-class loss series.
  std::map<int64_t, std::vector<double>> ExpectSucceededLikeUndisturbed(
      const std::string& job_id, int attempt, const std::string& worker_id) {
    std::vector<v1::Job> jobs = WaitForSweep(sweep_id_, absl::Seconds(180));
    EXPECT_EQ(jobs.size(), 1u);
    if (jobs.size() != 1) return {};
    EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
    EXPECT_EQ(jobs[0].attempt(), attempt);
    EXPECT_EQ(jobs[0].worker_id(), worker_id);
    EXPECT_EQ(jobs[0].progress_step(), kLongJobSteps);
    std::map<int64_t, std::vector<double>> stored = QueryPerClass(job_id, "loss");
    // Evaluations at 0, 10, ..., 400.
    EXPECT_EQ(stored.size(), static_cast<size_t>(kLongJobSteps / 10 + 1));
    ExpectSameSeries(stored, TrainInProcess(jobs[0].spec()));
    return stored;
  }

  // Cuts the relay and waits until the worker behind it has filled its window of
  // unacknowledged batches and stopped training, instead of buffering without bound.
  void CutAndWaitForTheWorkerToStall() {
    relay_->Cut();
    ASSERT_TRUE(WaitUntilIdle(worker_->pid(), absl::Seconds(60)))
        << "the worker kept computing with its reports cut off\n"
        << worker_->Log();
  }

  std::unique_ptr<TcpRelay> relay_;
  Subprocess* worker_ = nullptr;  // The worker behind the relay (owned by workers_).
  std::string sweep_id_;
};

TEST_F(NetworkCutTest, CutOffWorkerLosesTheLeaseAndTheJobCompletesElsewhere) {
  const std::string job_id = StartJobBehindRelay(/*lease_seconds=*/2, "isolated");
  ASSERT_FALSE(HasFailure());
  relay_->Cut();

  // Nothing gets through, heartbeats included: the lease lapses and the reaper requeues the job
  // while the worker, unaware, still holds it.
  v1::Job job = WaitForJob(
      job_id, [](const v1::Job& j) { return j.state() != v1::JOB_STATE_RUNNING; },
      absl::Seconds(60));
  ASSERT_EQ(job.state(), v1::JOB_STATE_QUEUED) << coordinator_->Log();
  EXPECT_EQ(job.attempt(), 1);
  EXPECT_NE(coordinator_->Log().find("lease of job " + job_id + " expired"), std::string::npos)
      << coordinator_->Log();
  EXPECT_TRUE(worker_->Alive()) << worker_->Log();

  Subprocess* rescuer = StartWorker("rescuer");
  const std::map<int64_t, std::vector<double>> stored =
      ExpectSucceededLikeUndisturbed(job_id, /*attempt=*/2, "rescuer");

  // Back on the network, the cut-off worker's queued batches and heartbeats arrive under the
  // old lease: refused, and the worker drops the job.
  relay_->Heal();
  ASSERT_NO_FATAL_FAILURE(ExpectDroppedStaleJob(*worker_, job_id));
  // None of it was written: an accepted stale heartbeat would have set the progress back to
  // where the cut-off worker stalled, and the stored series are untouched.
  job = GetJob(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.attempt(), 2);
  EXPECT_EQ(job.worker_id(), "rescuer");
  EXPECT_EQ(job.progress_step(), kLongJobSteps);
  EXPECT_EQ(QueryPerClass(job_id, "loss"), stored);

  // And it goes on serving: with the rescuer gone, the next job runs on it, through the relay.
  rescuer->Kill(SIGTERM);
  int status = 0;
  ASSERT_TRUE(rescuer->WaitFor(absl::Seconds(30), &status)) << rescuer->Log();
  ExpectRunsNextJob("isolated");
}

TEST_F(NetworkCutTest, CutShorterThanTheLeaseIsRiddenOutOnTheSameConnection) {
  const std::string job_id = StartJobBehindRelay(/*lease_seconds=*/60, "steady");
  ASSERT_FALSE(HasFailure());
  CutAndWaitForTheWorkerToStall();
  ASSERT_FALSE(HasFailure());
  v1::Job job = GetJob(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING);
  EXPECT_LT(job.progress_step(), kLongJobSteps);
  relay_->Heal();

  // TCP delivers what waited in the buffers; the job goes on under the same lease.
  ExpectSucceededLikeUndisturbed(job_id, /*attempt=*/1, "steady");
  // Shorter than gRPC's keepalive timeout: no reconnect was needed.
  EXPECT_EQ(relay_->connections(), 1);
  EXPECT_EQ(worker_->Log().find("reconnecting"), std::string::npos) << worker_->Log();
}

TEST_F(NetworkCutTest, ResetConnectionIsReopenedAndUnacknowledgedBatchesResent) {
  const std::string job_id = StartJobBehindRelay(/*lease_seconds=*/60, "resilient");
  ASSERT_FALSE(HasFailure());
  CutAndWaitForTheWorkerToStall();
  ASSERT_FALSE(HasFailure());
  // The connection dies with a RST both ways, with a full window unacknowledged: the worker
  // opens a new stream and resends it; batches the coordinator already stored are rewritten
  // with the same key and values.
  relay_->Reset();
  relay_->Heal();
  ExpectSucceededLikeUndisturbed(job_id, /*attempt=*/1, "resilient");
  EXPECT_GE(relay_->connections(), 2);
  EXPECT_NE(worker_->Log().find("reconnecting"), std::string::npos) << worker_->Log();
}

}  // namespace
}  // namespace optbench
