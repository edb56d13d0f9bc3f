#include "server/scheduler.h"

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/testing/status_matchers.h"

namespace optbench::server {
namespace {

using ::optbench::testing::IsOk;
using ::optbench::testing::StatusIs;
using storage::JobRecord;
using storage::JobState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

constexpr absl::Duration kLease = absl::Seconds(30);

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::SqliteStore::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    SchedulerOptions options;
    options.lease = kLease;
    options.max_attempts = 2;
    scheduler_ = std::make_unique<Scheduler>(store_.get(), &clock_, options);
  }

  // max_attempts 0: the scheduler's default (2).
  std::string Submit(int jobs, int32_t max_attempts = 0) {
    std::vector<storage::NewJob> new_jobs(jobs);
    for (auto& j : new_jobs) {
      j.spec = "spec";
      j.total_steps = 10;
      j.max_attempts = max_attempts;
    }
    auto sweep = scheduler_->CreateSweep("t", "", new_jobs);
    EXPECT_TRUE(sweep.ok()) << sweep.status();
    return sweep.ok() ? sweep->id : "";
  }

  storage::JobRecord Acquire(const std::string& worker) {
    auto job = scheduler_->Acquire(worker, absl::ZeroDuration());
    EXPECT_TRUE(job.ok()) << job.status();
    EXPECT_TRUE(job->has_value());
    return job.ok() && job->has_value() ? **job : storage::JobRecord();
  }

  JobRecord Get(const std::string& id) {
    auto job = scheduler_->GetJob(id);
    EXPECT_THAT(job, IsOk());
    return job.ok() ? *job : JobRecord();
  }

  JobState StateOf(const std::string& id) { return Get(id).state; }

  FakeClock clock_;
  std::unique_ptr<storage::SqliteStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, AcquireReturnsNothingWhenQueueEmpty) {
  auto job = scheduler_->Acquire("w", absl::ZeroDuration());
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE(job->has_value());
}

TEST_F(SchedulerTest, DefaultMaxAttemptsIsApplied) {
  Submit(1);
  EXPECT_EQ(Acquire("w").max_attempts, 2);
}

TEST_F(SchedulerTest, ExpiredLeaseIsRequeuedAndStaleTokenRefused) {
  Submit(1);
  storage::JobRecord first = Acquire("w1");
  EXPECT_EQ(first.attempt, 1);
  // Within the lease: renewals work and nothing is requeued.
  clock_.Advance(absl::Seconds(20));
  ASSERT_TRUE(scheduler_->Heartbeat(first.id, first.lease_token, 3).ok());
  clock_.Advance(absl::Seconds(20));
  auto none = scheduler_->ExpireLeases();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // Silent past the lease: requeued and handed to the next worker as attempt 2.
  clock_.Advance(absl::Seconds(31));
  storage::JobRecord second = Acquire("w2");
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.worker_id, "w2");
  EXPECT_NE(second.lease_token, first.lease_token);
  // The presumed-dead worker cannot write into the new attempt.
  EXPECT_EQ(scheduler_->Heartbeat(first.id, first.lease_token, 5).status().code(),
            absl::StatusCode::kFailedPrecondition);
  storage::MetricRow row{first.id, 1, "train", "loss", {1.0}};
  EXPECT_EQ(scheduler_->ReportMetrics(first.id, first.lease_token, 1, {row}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(scheduler_->Complete(first.id, first.lease_token, JobState::kSucceeded, "").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(scheduler_->Complete(second.id, second.lease_token, JobState::kSucceeded, "").ok());
  EXPECT_EQ(StateOf(first.id), JobState::kSucceeded);
}

// A restarted coordinator reads lease expiry times written before its outage; it gives running
// jobs one lease from its start before it expires any, so their workers can reconnect.
TEST_F(SchedulerTest, ARestartedSchedulerGivesRunningLeasesOneLeaseOfGrace) {
  Submit(2);
  const storage::JobRecord kept = Acquire("w1");
  const storage::JobRecord lost = Acquire("w2");
  clock_.Advance(3 * kLease);  // the outage: both leases are long past their expiry
  SchedulerOptions options;
  options.lease = kLease;
  options.max_attempts = 2;
  scheduler_ = std::make_unique<Scheduler>(store_.get(), &clock_, options);
  clock_.Advance(kLease - absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> none, scheduler_->ExpireLeases());
  EXPECT_THAT(none, IsEmpty());
  // w1 is back within the grace: its heartbeat renews the lease; w2 never returns.
  ASSERT_OK(scheduler_->Heartbeat(kept.id, kept.lease_token, 3).status());
  clock_.Advance(absl::Seconds(2));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> expired, scheduler_->ExpireLeases());
  EXPECT_THAT(expired, ElementsAre(lost.id));
  EXPECT_EQ(StateOf(kept.id), JobState::kRunning);
  EXPECT_EQ(Get(kept.id).attempt, 1);
  EXPECT_EQ(StateOf(lost.id), JobState::kQueued);
}

TEST_F(SchedulerTest, AttemptLimitEndsInFailed) {
  Submit(1);
  storage::JobRecord a = Acquire("w");
  clock_.Advance(absl::Seconds(31));
  storage::JobRecord b = Acquire("w");
  EXPECT_EQ(b.attempt, 2);
  clock_.Advance(absl::Seconds(31));
  auto expired = scheduler_->ExpireLeases();
  ASSERT_TRUE(expired.ok());
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ(StateOf(a.id), JobState::kFailed);
  auto none = scheduler_->Acquire("w", absl::ZeroDuration());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(SchedulerTest, FailRequeuesUntilAttemptsExhausted) {
  Submit(1);
  storage::JobRecord a = Acquire("w");
  auto state = scheduler_->Fail(a.id, a.lease_token, "boom 1", AttemptOutcome::kRetry);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, JobState::kQueued);
  const JobRecord queued = Get(a.id);
  EXPECT_EQ(queued.state, JobState::kQueued);
  EXPECT_EQ(queued.error, "boom 1");
  EXPECT_TRUE(queued.lease_token.empty());
  storage::JobRecord b = Acquire("w");
  EXPECT_EQ(b.attempt, 2);
  clock_.Advance(absl::Seconds(1));
  state = scheduler_->Fail(b.id, b.lease_token, "boom 2", AttemptOutcome::kRetry);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, JobState::kFailed);
  const JobRecord failed = Get(a.id);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error, "boom 2");
  EXPECT_EQ(failed.finished_at, clock_.Now());
}

TEST_F(SchedulerTest, PermanentFailureEndsTheJobAtOnce) {
  Submit(1);
  storage::JobRecord a = Acquire("w");
  auto state =
      scheduler_->Fail(a.id, a.lease_token, "bad.csv:3: not a number", AttemptOutcome::kPermanent);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, JobState::kFailed);
  const JobRecord job = Get(a.id);
  EXPECT_EQ(job.attempt, 1);
  EXPECT_EQ(job.error, "bad.csv:3: not a number");
}

TEST_F(SchedulerTest, ReleaseDoesNotSpendAnAttempt) {
  Submit(1);
  for (int i = 0; i < 5; ++i) {
    storage::JobRecord a = Acquire("w");
    EXPECT_EQ(a.attempt, 1);
    ASSERT_TRUE(
        scheduler_->Fail(a.id, a.lease_token, "preempted", AttemptOutcome::kPreempted).ok());
  }
  EXPECT_EQ(StateOf(Acquire("w").id), JobState::kRunning);
}

TEST_F(SchedulerTest, ReleaseKeepsTheOnlyAttempt) {
  Submit(1, /*max_attempts=*/1);
  const JobRecord first = Acquire("w1");
  ASSERT_OK(scheduler_->Fail(first.id, first.lease_token, "", AttemptOutcome::kPreempted));
  const JobRecord released = Get(first.id);
  EXPECT_EQ(released.state, JobState::kQueued);
  EXPECT_EQ(released.attempt, 0);
  EXPECT_TRUE(released.lease_token.empty());
  EXPECT_EQ(released.lease_expires_at, absl::InfinitePast());
  EXPECT_THAT(scheduler_->Heartbeat(first.id, first.lease_token, 1),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The one allowed attempt is still there: claimed again, expiring then fails it.
  const JobRecord second = Acquire("w2");
  EXPECT_EQ(second.attempt, 1);
  clock_.Advance(2 * kLease);
  ASSERT_OK(scheduler_->ExpireLeases());
  EXPECT_EQ(StateOf(first.id), JobState::kFailed);
}

TEST_F(SchedulerTest, CompleteRefusesNonTerminalOutcome) {
  Submit(1);
  storage::JobRecord a = Acquire("w");
  for (JobState bad : {JobState::kQueued, JobState::kRunning, JobState::kFailed}) {
    EXPECT_THAT(scheduler_->Complete(a.id, a.lease_token, bad, ""),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("outcome: ", storage::JobStateName(bad),
                                      " is not a completion; allowed succeeded, diverged, "
                                      "cancelled")));
    // Before the job is even looked up.
    EXPECT_THAT(scheduler_->Complete("s-00000000-0", "t", bad, ""),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(StateOf(a.id), JobState::kRunning);
}

TEST_F(SchedulerTest, CompleteEndsTheJobAndClearsTheLease) {
  Submit(1);
  const JobRecord a = Acquire("w1");
  const absl::Time started = clock_.Now();
  clock_.Advance(absl::Minutes(5));
  ASSERT_OK(scheduler_->Complete(a.id, a.lease_token, JobState::kDiverged, "loss is nan"));
  const JobRecord job = Get(a.id);
  EXPECT_EQ(job.state, JobState::kDiverged);
  EXPECT_EQ(job.error, "loss is nan");
  EXPECT_EQ(job.finished_at, clock_.Now());
  EXPECT_EQ(job.started_at, started);
  EXPECT_EQ(job.worker_id, "w1");
  EXPECT_TRUE(job.lease_token.empty());
  EXPECT_EQ(job.lease_expires_at, absl::InfinitePast());
  clock_.Advance(absl::Hours(1));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> changed, scheduler_->ExpireLeases());
  EXPECT_TRUE(changed.empty());
}

TEST_F(SchedulerTest, CancelJobFollowsTheJobsState) {
  const std::string sweep = Submit(4);
  const JobRecord running = Acquire("w");
  const JobRecord done = Acquire("w");
  ASSERT_OK(scheduler_->Complete(done.id, done.lease_token, JobState::kSucceeded, ""));
  const std::string queued_id = sweep + "-2";
  clock_.Advance(absl::Seconds(3));
  const absl::Time t1 = clock_.Now();

  ASSERT_OK(scheduler_->CancelJob(queued_id));
  const JobRecord queued = Get(queued_id);
  EXPECT_EQ(queued.state, JobState::kCancelled);
  EXPECT_EQ(queued.finished_at, t1);

  ASSERT_OK(scheduler_->CancelJob(running.id));
  const JobRecord cancelling = Get(running.id);
  EXPECT_EQ(cancelling.state, JobState::kRunning);
  EXPECT_TRUE(cancelling.cancel_requested);
  ASSERT_OK_AND_ASSIGN(bool cancel, scheduler_->Heartbeat(running.id, running.lease_token, 1));
  EXPECT_TRUE(cancel);
  // A cancelled job is not handed back to the queue.
  EXPECT_THAT(scheduler_->Fail(running.id, running.lease_token, "", AttemptOutcome::kPreempted),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("pending cancel request")));

  ASSERT_OK(scheduler_->CancelJob(done.id));
  const JobRecord succeeded = Get(done.id);
  EXPECT_EQ(succeeded.state, JobState::kSucceeded);
  EXPECT_FALSE(succeeded.cancel_requested);

  // The worker vanishes: its expired lease ends the job as cancelled, not queued.
  clock_.Advance(2 * kLease);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> changed, scheduler_->ExpireLeases());
  EXPECT_THAT(changed, ElementsAre(running.id));
  EXPECT_EQ(StateOf(running.id), JobState::kCancelled);
  // The untouched fourth job is the only one left to claim.
  EXPECT_EQ(Acquire("w").id, sweep + "-3");
}

TEST_F(SchedulerTest, CancelSweepCancelsQueuedAndFlagsRunning) {
  const std::string a = Submit(3);
  const std::string b = Submit(2);
  const JobRecord running = Acquire("w");
  const JobRecord done = Acquire("w");
  ASSERT_OK(scheduler_->Fail(done.id, done.lease_token, "x", AttemptOutcome::kPermanent));
  ASSERT_OK(scheduler_->CancelSweep(a));
  ASSERT_OK_AND_ASSIGN(auto counts, scheduler_->CountJobs(a));
  EXPECT_THAT(counts, ElementsAre(std::pair(JobState::kQueued, int64_t{0}),
                                  std::pair(JobState::kRunning, int64_t{1}),
                                  std::pair(JobState::kSucceeded, int64_t{0}),
                                  std::pair(JobState::kFailed, int64_t{1}),
                                  std::pair(JobState::kDiverged, int64_t{0}),
                                  std::pair(JobState::kCancelled, int64_t{1})));
  EXPECT_TRUE(Get(running.id).cancel_requested);
  ASSERT_OK_AND_ASSIGN(auto other, scheduler_->CountJobs(b));
  EXPECT_EQ(other[0], std::pair(JobState::kQueued, int64_t{2}));
}

TEST_F(SchedulerTest, CancelQueuedAndRunning) {
  std::string sweep = Submit(2);
  storage::JobRecord running = Acquire("w");
  ASSERT_TRUE(scheduler_->CancelSweep(sweep).ok());
  auto cancel = scheduler_->Heartbeat(running.id, running.lease_token, 1);
  ASSERT_TRUE(cancel.ok());
  EXPECT_TRUE(*cancel);
  EXPECT_EQ(StateOf(sweep + "-1"), JobState::kCancelled);
  EXPECT_EQ(StateOf(running.id), JobState::kRunning);
  ASSERT_TRUE(scheduler_->Complete(running.id, running.lease_token, JobState::kCancelled, "").ok());
  EXPECT_EQ(StateOf(running.id), JobState::kCancelled);
}

TEST_F(SchedulerTest, LongPollWakesOnSubmit) {
  std::thread submitter([this] {
    absl::SleepFor(absl::Milliseconds(200));
    Submit(1);
  });
  const absl::Time start = absl::Now();
  auto job = scheduler_->Acquire("w", absl::Seconds(10));
  submitter.join();
  ASSERT_TRUE(job.ok());
  EXPECT_TRUE(job->has_value());
  // Woken by the submit, not by the 10 s timeout.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(SchedulerTest, AbandonedLongPollClaimsNothing) {
  std::atomic<bool> gone{false};
  std::thread leaver([&gone] {
    absl::SleepFor(absl::Milliseconds(100));
    gone = true;
  });
  auto job = scheduler_->Acquire("w", absl::Seconds(10), [&gone] { return gone.load(); });
  leaver.join();
  ASSERT_TRUE(job.ok());
  EXPECT_FALSE(job->has_value());
  // A job submitted now is still queued for the next caller, not leased to the one that left.
  const std::string sweep = Submit(1);
  auto again = scheduler_->Acquire("w2", absl::ZeroDuration());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->attempt, 1);
}

TEST_F(SchedulerTest, VersionBumpsOnChanges) {
  const uint64_t v0 = scheduler_->version();
  Submit(1);
  const uint64_t v1 = scheduler_->version();
  EXPECT_GT(v1, v0);
  storage::JobRecord a = Acquire("w");
  EXPECT_GT(scheduler_->version(), v1);
  EXPECT_EQ(scheduler_->AwaitChange(scheduler_->version(), absl::Milliseconds(10)),
            scheduler_->version());
  // Progress (heartbeats, metric batches) is a change for watchers, not for idle acquirers.
  const uint64_t state = scheduler_->state_version();
  const uint64_t any = scheduler_->version();
  ASSERT_TRUE(scheduler_->Heartbeat(a.id, a.lease_token, 3).ok());
  ASSERT_TRUE(
      scheduler_->ReportMetrics(a.id, a.lease_token, 4, {{a.id, 4, "train", "loss", {1.0}}}).ok());
  EXPECT_EQ(scheduler_->version(), any + 2);
  EXPECT_EQ(scheduler_->state_version(), state);
  EXPECT_EQ(scheduler_->AwaitStateChange(state, absl::Milliseconds(10)), state);
  // Finishing the job is a state change.
  ASSERT_TRUE(scheduler_->Complete(a.id, a.lease_token, storage::JobState::kSucceeded, "").ok());
  EXPECT_GT(scheduler_->state_version(), state);
}

TEST_F(SchedulerTest, AcquireLeasesUnderFreshRandomTokens) {
  Submit(5);
  std::set<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(1));
    const JobRecord job = Acquire("w1");
    EXPECT_EQ(job.state, JobState::kRunning);
    EXPECT_EQ(job.attempt, 1);
    EXPECT_EQ(job.worker_id, "w1");
    EXPECT_THAT(job.lease_token, MatchesRegex("[0-9a-f]{32}"));
    EXPECT_EQ(job.lease_expires_at, clock_.Now() + kLease);
    EXPECT_EQ(job.started_at, clock_.Now());
    EXPECT_EQ(job.spec, "spec");
    tokens.insert(job.lease_token);
  }
  EXPECT_EQ(tokens.size(), 5u);
  EXPECT_THAT(scheduler_->Acquire("", absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument, "worker_id is empty"));
}

// A worker is seen whenever it registers, asks for work or reports; one silent for more than a
// lease is lost, and after ten leases it is no longer listed.
TEST_F(SchedulerTest, WorkersAreSeenOnEveryCallAndLostWhenSilent) {
  ASSERT_OK(scheduler_->RegisterWorker("busy", "", 1));
  ASSERT_OK(scheduler_->RegisterWorker("idle", "", 1));
  ASSERT_OK(scheduler_->RegisterWorker("dead", "", 1));
  Submit(1);
  const JobRecord job = Acquire("busy");
  const auto last_seen = [&](const std::string& id) {
    absl::StatusOr<std::vector<storage::WorkerRecord>> workers = scheduler_->ListWorkers();
    EXPECT_TRUE(workers.ok()) << workers.status();
    for (const storage::WorkerRecord& w : *workers) {
      if (w.id == id) return std::optional<storage::WorkerRecord>(w);
    }
    return std::optional<storage::WorkerRecord>();
  };
  // Half a lease at a time: "busy" heartbeats, "idle" long-polls an empty queue, "dead" is silent.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(kLease / 2);
    ASSERT_OK(scheduler_->Heartbeat(job.id, job.lease_token, 1).status());
    ASSERT_OK(scheduler_->Acquire("idle", absl::ZeroDuration()).status());
  }
  for (const char* alive : {"busy", "idle"}) {
    ASSERT_TRUE(last_seen(alive).has_value()) << alive;
    EXPECT_EQ(last_seen(alive)->last_seen, clock_.Now()) << alive;
    EXPECT_FALSE(scheduler_->IsLost(*last_seen(alive))) << alive;
  }
  ASSERT_TRUE(last_seen("dead").has_value());
  EXPECT_TRUE(scheduler_->IsLost(*last_seen("dead")));  // 1.5 leases of silence.
  // A metric batch counts too; after ten leases of silence a worker is gone from the list.
  clock_.Advance(kLease * 9);
  ASSERT_OK(scheduler_->ReportMetrics(job.id, job.lease_token, 2, {}).status());
  EXPECT_FALSE(last_seen("dead").has_value());
  EXPECT_TRUE(scheduler_->IsLost(*last_seen("idle")));
  ASSERT_TRUE(last_seen("busy").has_value());
  EXPECT_FALSE(scheduler_->IsLost(*last_seen("busy")));
}

// A worker whose lease lapsed and whose job went to another worker can neither write nor read
// anything of the job's new attempt, whatever it calls.
TEST_F(SchedulerTest, StaleLeaseIsRefusedByEveryLeaseCheckedCall) {
  Submit(1);
  const JobRecord first = Acquire("w1");
  const std::string& old_token = first.lease_token;
  ASSERT_OK(scheduler_->Heartbeat(first.id, old_token, 5).status());
  ASSERT_OK(scheduler_->SaveCheckpoint(first.id, old_token, 5, "five", 2));
  clock_.Advance(kLease + absl::Seconds(1));
  const JobRecord again = Acquire("w2");
  ASSERT_EQ(again.id, first.id);
  EXPECT_EQ(again.attempt, 2);
  const std::string& new_token = again.lease_token;
  ASSERT_NE(new_token, old_token);

  const storage::MetricRow row{first.id, 1, "test", "loss", {1}};
  const std::string stale = "stale lease for job " + first.id;
  auto expect_stale = [&](const absl::Status& status, const char* what) {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(stale))) << what;
  };
  expect_stale(scheduler_->Heartbeat(first.id, old_token, 5).status(), "heartbeat");
  expect_stale(scheduler_->ReportMetrics(first.id, old_token, 1, {row}).status(), "metrics");
  expect_stale(scheduler_->SetDatasetInfo(first.id, old_token, 1, {1}, {1}, ""), "dataset");
  expect_stale(scheduler_->SaveCheckpoint(first.id, old_token, 9, "stale", 2), "save");
  expect_stale(scheduler_->LoadCheckpoint(first.id, old_token, INT64_MAX).status(), "load");
  expect_stale(scheduler_->Complete(first.id, old_token, JobState::kSucceeded, ""), "complete");
  for (AttemptOutcome outcome :
       {AttemptOutcome::kRetry, AttemptOutcome::kPermanent, AttemptOutcome::kPreempted}) {
    expect_stale(scheduler_->Fail(first.id, old_token, "boom", outcome).status(),
                 AttemptOutcomeName(outcome));
  }
  expect_stale(scheduler_->Heartbeat(first.id, "", 5).status(), "empty token");

  // Nothing the old worker sent landed; the new lease works for every call.
  storage::MetricQuery query;
  query.job_ids = {first.id};
  ASSERT_OK_AND_ASSIGN(std::vector<storage::MetricRow> rows, scheduler_->ReadMetrics(query));
  EXPECT_TRUE(rows.empty());
  ASSERT_OK_AND_ASSIGN(bool cancel, scheduler_->Heartbeat(first.id, new_token, 7));
  EXPECT_FALSE(cancel);
  ASSERT_OK(scheduler_->SetDatasetInfo(first.id, new_token, 1, {1}, {1}, ""));
  ASSERT_OK_AND_ASSIGN(std::optional<storage::CheckpointRecord> resumed,
                       scheduler_->LoadCheckpoint(first.id, new_token, INT64_MAX));
  ASSERT_TRUE(resumed.has_value());  // The first attempt's checkpoint.
  EXPECT_EQ(resumed->data, "five");
  const JobRecord running = Get(first.id);
  EXPECT_EQ(running.progress_step, 7);
  EXPECT_EQ(running.worker_id, "w2");
  EXPECT_EQ(running.lease_expires_at, clock_.Now() + kLease);
  ASSERT_OK(scheduler_->ReportMetrics(first.id, new_token, 1, {row}));
  ASSERT_OK(scheduler_->Complete(first.id, new_token, JobState::kSucceeded, ""));

  // Once finished, the job moved on: even its last token is stale, and the message says so.
  EXPECT_THAT(scheduler_->Heartbeat(first.id, new_token, 8),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat(stale, ": the job moved on and is now succeeded (attempt 2)")));
}

TEST_F(SchedulerTest, ExpiredLeasesRequeueThenFailWhenAttemptsRunOut) {
  Submit(1, /*max_attempts=*/3);
  const JobRecord job = Acquire("w");
  clock_.Advance(kLease);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> none, scheduler_->ExpireLeases());
  EXPECT_TRUE(none.empty());  // Expiring now is not expired.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> changed, scheduler_->ExpireLeases());
    EXPECT_THAT(changed, ElementsAre(job.id));
    const JobRecord expired = Get(job.id);
    EXPECT_EQ(expired.attempt, attempt);
    EXPECT_TRUE(expired.lease_token.empty());
    EXPECT_EQ(expired.lease_expires_at, absl::InfinitePast());
    if (attempt < 3) {
      EXPECT_EQ(expired.state, JobState::kQueued);
      EXPECT_EQ(Acquire("w").id, job.id);  // Requeued jobs keep their place at the front.
      clock_.Advance(kLease);
    } else {
      EXPECT_EQ(expired.state, JobState::kFailed);
      EXPECT_EQ(expired.error, "lease of worker w expired on attempt 3 of 3; no attempts left");
      EXPECT_EQ(expired.finished_at, clock_.Now());
    }
  }
  clock_.Advance(absl::Hours(1));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> again, scheduler_->ExpireLeases());
  EXPECT_TRUE(again.empty());
}

TEST_F(SchedulerTest, HeartbeatPostponesExpiry) {
  Submit(1);
  const JobRecord job = Acquire("w");
  const absl::Time t0 = clock_.Now();
  clock_.Advance(absl::Seconds(20));
  const absl::Time t1 = clock_.Now();
  ASSERT_OK(scheduler_->Heartbeat(job.id, job.lease_token, 3));
  clock_.Set(t0 + kLease + absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> changed, scheduler_->ExpireLeases());
  EXPECT_TRUE(changed.empty());
  clock_.Set(t1 + kLease + absl::Microseconds(1));
  ASSERT_OK_AND_ASSIGN(changed, scheduler_->ExpireLeases());
  EXPECT_THAT(changed, ElementsAre(job.id));
}

TEST_F(SchedulerTest, UnknownIdsAreNotFound) {
  const std::string job = "s-00000000-0";
  const auto not_found = StatusIs(absl::StatusCode::kNotFound);
  EXPECT_THAT(scheduler_->GetJob(job), not_found);
  EXPECT_THAT(scheduler_->CancelJob(job), not_found);
  EXPECT_THAT(scheduler_->CancelSweep("s-00000000"), not_found);
  EXPECT_THAT(scheduler_->Heartbeat(job, "t", 0), not_found);
  EXPECT_THAT(scheduler_->ReportMetrics(job, "t", 0, {}), not_found);
  EXPECT_THAT(scheduler_->SetDatasetInfo(job, "t", 1, {}, {}, ""), not_found);
  EXPECT_THAT(scheduler_->SaveCheckpoint(job, "t", 1, "x", 2), not_found);
  EXPECT_THAT(scheduler_->LoadCheckpoint(job, "t", 1), not_found);
  EXPECT_THAT(scheduler_->Complete(job, "t", JobState::kSucceeded, ""), not_found);
  EXPECT_THAT(scheduler_->Fail(job, "t", "x", AttemptOutcome::kRetry), not_found);
}

TEST_F(SchedulerTest, RegisterWorkerRecordsWhenItWasSeen) {
  ASSERT_OK(scheduler_->RegisterWorker("w2", "gpu-box", 4));
  clock_.Advance(absl::Seconds(9));
  ASSERT_OK(scheduler_->RegisterWorker("w1", "laptop", 1));
  ASSERT_OK_AND_ASSIGN(std::vector<storage::WorkerRecord> workers, scheduler_->ListWorkers());
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[0].id, "w1");
  EXPECT_EQ(workers[0].last_seen, clock_.Now());
  EXPECT_EQ(workers[1].name, "gpu-box");
  EXPECT_EQ(workers[1].slots, 4);
  EXPECT_EQ(workers[1].last_seen, clock_.Now() - absl::Seconds(9));
  EXPECT_THAT(scheduler_->RegisterWorker("", "x", 1), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace optbench::server
