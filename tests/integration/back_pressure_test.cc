// Issue 5, back-pressure: a metric flood (an evaluation every step, thousands of values each)
// into a coordinator whose disk stalls. The stall is real contention on the real file: another
// process holds SQLite's write lock, so the coordinator's writes wait out their busy timeout and
// fail until it lets go. The worker must stop training within its report window instead of
// buffering, and once the disk is back every evaluation must be stored exactly once.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "tests/integration/proc_stats.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"
#include "worker/worker.h"

namespace optbench {
namespace {

using testing::CpuTicks;
using testing::kIdleTicksPerSecond;
using testing::ResidentBytes;
using testing::Subprocess;
using testing::WaitUntilIdle;

// Holds the write lock of a SQLite database from a `sqlite3` shell child (BEGIN IMMEDIATE), as
// a stalled disk would hold up every write: other writers wait for their busy timeout and then
// fail with SQLITE_BUSY. Readers go on (WAL). Not thread-safe; Release() in the destructor.
class SqliteWriteLock {
 public:
  SqliteWriteLock() = default;
  SqliteWriteLock(const SqliteWriteLock&) = delete;
  SqliteWriteLock& operator=(const SqliteWriteLock&) = delete;
  ~SqliteWriteLock() { Release(); }

  // Starts the shell on `db_path` and waits up to `timeout` until it holds the lock; the shell
  // touches `marker` once BEGIN IMMEDIATE has succeeded (-bail: it exits on failure instead).
  bool Acquire(const std::string& db_path, const std::string& marker, absl::Duration timeout) {
    std::filesystem::remove(marker);
    // A shell that gave up (-bail) must not take the test down with SIGPIPE on the next write.
    signal(SIGPIPE, SIG_IGN);
    shell_ =
        popen(("exec sqlite3 -bail '" + db_path + "' >'" + marker + ".log' 2>&1").c_str(), "w");
    if (shell_ == nullptr) return false;
    // Waiting up to 20 s for the lock: the coordinator holds it for a moment at each write.
    fputs(".timeout 20000\nBEGIN IMMEDIATE;\n", shell_);
    fputs((".system touch '" + marker + "'\n").c_str(), shell_);
    fflush(shell_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!std::filesystem::exists(marker)) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

  // Commits the empty transaction and waits for the shell to exit.
  void Release() {
    if (shell_ == nullptr) return;
    fputs("COMMIT;\n.quit\n", shell_);
    pclose(shell_);
    shell_ = nullptr;
  }

 private:
  FILE* shell_ = nullptr;
};

class BackPressureTest : public testing::ServiceFixture {};

TEST_F(BackPressureTest, StalledStoreStopsTheWorkerWithinItsWindowAndLosesNothing) {
  // The lease outlasts the stall: this test is about a slow disk, not a lost worker.
  StartCoordinator({"--lease_seconds=120", "--heartbeat_seconds=1"});
  Subprocess* flooder = StartWorker("flooder");
  // 1,000 classes with one example each, features in R^1000, a narrow MLP: cheap steps with big
  // evaluations (7 vectors of 1,000 doubles, ~56 KB), one per step.
  constexpr int64_t kSteps = 300;
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: zipf_gaussian, classes: 1000, alpha: 0, min_samples: 1}
model: {name: mlp, hidden: [8]}
trainer: {steps: 300, eval_every: 1}
optimizer: {name: adam, lr: 0.001}
)");
  ASSERT_EQ(sweep.jobs_size(), 1);
  const std::string job_id = sweep.jobs(0).id();
  v1::Job job = WaitForProgress(job_id, 20, absl::Seconds(60));
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING) << flooder->Log();
  ASSERT_GE(job.progress_step(), 20) << flooder->Log();
  const int64_t rss_training = ResidentBytes(flooder->pid());
  ASSERT_GT(rss_training, 0);

  SqliteWriteLock lock;
  ASSERT_TRUE(lock.Acquire(dir_ + "/optbench.db", dir_ + "/locked", absl::Seconds(30)));
  // Nothing can be stored or acknowledged now: the worker must run out of window and wait.
  ASSERT_TRUE(WaitUntilIdle(flooder->pid(), absl::Seconds(60)))
      << "the worker kept computing with its reports unacknowledged\n"
      << flooder->Log();
  // The last evaluation stored before the stall (reads are not blocked).
  const std::map<int64_t, std::vector<double>> before = QueryPerClass(job_id, "wall_seconds");
  ASSERT_FALSE(before.empty());
  const int64_t last_stored = before.rbegin()->first;
  ASSERT_LT(last_stored, kSteps) << "finished before the stall; make the job longer";
  // Held past the coordinator's 5 s busy timeout, so its writes fail and are retried too.
  int64_t rss_max = rss_training;
  const int64_t ticks_stalled = CpuTicks(flooder->pid());
  const absl::Time release_at = absl::Now() + absl::Seconds(7);
  while (absl::Now() < release_at) {
    rss_max = std::max(rss_max, ResidentBytes(flooder->pid()));
    absl::SleepFor(absl::Milliseconds(100));
  }
  const int64_t ticks_during_stall = CpuTicks(flooder->pid()) - ticks_stalled;
  EXPECT_TRUE(flooder->Alive()) << flooder->Log();
  lock.Release();

  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(180));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 1);
  EXPECT_EQ(jobs[0].worker_id(), "flooder");

  // Memory stayed put while reports could not drain: ~1.4 MB of growth here. With the window
  // disabled, only gRPC's flow control held the worker back, ~80 evaluations (~4.5 MB) later,
  // and its RSS grew by ~9.5 MB.
  EXPECT_LE(rss_max - rss_training, 4 << 20)
      << "RSS grew from " << rss_training << " to " << rss_max << " bytes during the stall";
  // And the worker did not compute through it.
  EXPECT_LE(ticks_during_stall, 7 * kIdleTicksPerSecond) << "CPU ticks used during a 7 s stall";

  // Where training waited shows in the stored wall clock: the evaluation after it comes the
  // length of the stall later. The one that waited, t, had the window t - 8 .. t - 1 in flight
  // and everything older acknowledged, hence stored: t <= last stored + window + 1.
  const std::map<int64_t, std::vector<double>> wall = QueryPerClass(job_id, "wall_seconds");
  ASSERT_EQ(wall.size(), static_cast<size_t>(kSteps + 1));
  int64_t waited_at = -1;
  double longest = 0;
  for (auto it = wall.begin(); std::next(it) != wall.end(); ++it) {
    const double gap = std::next(it)->second[0] - it->second[0];
    if (gap > longest) {
      longest = gap;
      waited_at = it->first;
    }
  }
  EXPECT_GE(longest, 5.0) << "no evaluation waited out the stall";
  const int window = worker::WorkerOptions().report_window;
  EXPECT_GT(waited_at, last_stored);
  EXPECT_LE(waited_at, last_stored + window + 1)
      << "training went on for " << waited_at - last_stored
      << " evaluations with the store stalled; the window is " << window;

  // Nothing dropped, nothing twice: every step's evaluation, equal to an undisturbed run.
  std::map<int64_t, std::vector<double>> stored = QueryPerClass(job_id, "loss");
  EXPECT_EQ(stored.size(), static_cast<size_t>(kSteps + 1));
  ExpectSameSeries(stored, TrainInProcess(jobs[0].spec()));
}

}  // namespace
}  // namespace optbench
