#include "server/scheduler.h"

#include <atomic>
#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "storage/sqlite_store.h"

namespace optbench::server {
namespace {

using storage::JobState;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::SqliteStore::Open(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    SchedulerOptions options;
    options.lease = absl::Seconds(30);
    options.max_attempts = 2;
    scheduler_ = std::make_unique<Scheduler>(store_.get(), &clock_, options);
  }

  std::string Submit(int jobs) {
    std::vector<storage::NewJob> new_jobs(jobs);
    for (auto& j : new_jobs) {
      j.spec = "spec";
      j.total_steps = 10;
      j.max_attempts = 0;  // The scheduler's default (2).
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

  JobState StateOf(const std::string& id) {
    auto job = store_->GetJob(id);
    EXPECT_TRUE(job.ok());
    return job->state;
  }

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
  auto state = scheduler_->Fail(a.id, a.lease_token, "boom 1", /*release=*/false);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, JobState::kQueued);
  storage::JobRecord b = Acquire("w");
  state = scheduler_->Fail(b.id, b.lease_token, "boom 2", /*release=*/false);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, JobState::kFailed);
  auto job = store_->GetJob(a.id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->error, "boom 2");
}

TEST_F(SchedulerTest, PermanentFailureEndsTheJobAtOnce) {
  Submit(1);
  storage::JobRecord a = Acquire("w");
  auto state = scheduler_->Fail(a.id, a.lease_token, "bad.csv:3: not a number", false,
                                /*permanent=*/true);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, JobState::kFailed);
  auto job = store_->GetJob(a.id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->attempt, 1);
  EXPECT_EQ(job->error, "bad.csv:3: not a number");
}

TEST_F(SchedulerTest, ReleaseDoesNotSpendAnAttempt) {
  Submit(1);
  for (int i = 0; i < 5; ++i) {
    storage::JobRecord a = Acquire("w");
    EXPECT_EQ(a.attempt, 1);
    ASSERT_TRUE(scheduler_->Fail(a.id, a.lease_token, "preempted", /*release=*/true).ok());
  }
  EXPECT_EQ(StateOf(Acquire("w").id), JobState::kRunning);
}

TEST_F(SchedulerTest, CompleteRefusesNonTerminalOutcome) {
  Submit(1);
  storage::JobRecord a = Acquire("w");
  EXPECT_EQ(scheduler_->Complete(a.id, a.lease_token, JobState::kQueued, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StateOf(a.id), JobState::kRunning);
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

}  // namespace
}  // namespace optbench::server
