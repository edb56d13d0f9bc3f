// Every rule of the job lifecycle, on records alone: no store, no clock, no network.
#include "server/job_lifecycle.h"

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace optbench::storage {

// Readable failures for EXPECT_EQ on updates.
inline void PrintTo(const JobUpdate& u, std::ostream* os) {
  *os << "{" << JobStateName(u.state) << ", attempt " << u.attempt << ", worker '" << u.worker_id
      << "', token '" << u.lease_token << "', expires " << u.lease_expires_at << ", progress "
      << u.progress_step << ", cancel " << u.cancel_requested << ", error '" << u.error
      << "', started " << u.started_at << ", finished " << u.finished_at << "}";
}

}  // namespace optbench::storage

namespace optbench::server {
namespace {

using ::optbench::testing::IsOk;
using ::optbench::testing::StatusIs;
using storage::JobRecord;
using storage::JobState;
using storage::JobUpdate;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kNow = kT0 + absl::Minutes(1);
const absl::Duration kLease = absl::Seconds(30);
constexpr char kToken[] = "token-of-attempt-1";

const JobState kAllStates[] = {JobState::kQueued, JobState::kRunning,  JobState::kSucceeded,
                               JobState::kFailed, JobState::kDiverged, JobState::kCancelled};

JobRecord Queued() {
  JobRecord job;
  job.id = "s-0000abcd-0";
  job.sweep_id = "s-0000abcd";
  job.state = JobState::kQueued;
  job.max_attempts = 3;
  job.total_steps = 100;
  job.created_at = kT0;
  return job;
}

// Attempt `attempt` of `max_attempts`, claimed by "w1" at kT0 and renewed until kT0 + 20 s.
JobRecord Running(int32_t attempt = 1, int32_t max_attempts = 3, bool cancel_requested = false) {
  JobRecord job = Queued();
  job.state = JobState::kRunning;
  job.attempt = attempt;
  job.max_attempts = max_attempts;
  job.worker_id = "w1";
  job.lease_token = kToken;
  job.started_at = kT0;
  job.lease_expires_at = kT0 + absl::Seconds(20) + kLease;
  job.progress_step = 40;
  job.cancel_requested = cancel_requested;
  return job;
}

JobRecord InState(JobState state) {
  JobRecord job = state == JobState::kQueued ? Queued() : Running();
  job.state = state;
  if (storage::IsTerminal(state)) {
    job.lease_token.clear();
    job.lease_expires_at = absl::InfinitePast();
    job.finished_at = kT0 + absl::Seconds(50);
  }
  return job;
}

// What the store does with an update: the record as it is afterwards.
JobRecord Apply(JobRecord job, const JobUpdate& update) {
  update.ApplyTo(&job);
  return job;
}

void ExpectNoLease(const JobUpdate& u) {
  EXPECT_EQ(u.lease_token, "");
  EXPECT_EQ(u.lease_expires_at, absl::InfinitePast());
}

// ---------------------------------------------------------------------------------------------
// Claim

TEST(JobLifecycleTest, ClaimStartsANewAttemptUnderANewLease) {
  JobRecord job = Queued();
  job.attempt = 1;  // A first attempt failed and was requeued with its error.
  job.error = "oom";
  job.progress_step = 70;
  ASSERT_OK_AND_ASSIGN(JobUpdate u, Claim(job, "w2", "new-token", kNow, kLease));
  EXPECT_EQ(u.state, JobState::kRunning);
  EXPECT_EQ(u.attempt, 2);
  EXPECT_EQ(u.worker_id, "w2");
  EXPECT_EQ(u.lease_token, "new-token");
  EXPECT_EQ(u.lease_expires_at, kNow + kLease);
  EXPECT_EQ(u.started_at, kNow);
  EXPECT_EQ(u.progress_step, 0);
  EXPECT_EQ(u.error, "oom");  // Kept until the job ends.
  EXPECT_EQ(u.finished_at, absl::InfinitePast());
  EXPECT_FALSE(u.cancel_requested);
}

TEST(JobLifecycleTest, ClaimValidatesTheEventFirst) {
  struct Case {
    std::string worker_id;
    absl::Duration lease;
    std::string message;
  };
  const Case cases[] = {
      {"", kLease, "worker_id is empty"},
      {"w", absl::ZeroDuration(), "lease duration must be positive, got 0"},
      {"w", absl::Seconds(-1), "lease duration must be positive, got -1s"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ValidateClaim(c.worker_id, c.lease),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message));
    // Before the job's state: a running job is refused for the event, not for its state.
    EXPECT_THAT(Claim(Running(), c.worker_id, "t", kNow, c.lease),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message));
  }
  EXPECT_OK(ValidateClaim("w", kLease));
}

TEST(JobLifecycleTest, OnlyAQueuedJobCanBeClaimed) {
  for (JobState state : kAllStates) {
    if (state == JobState::kQueued) continue;
    EXPECT_THAT(Claim(InState(state), "w", "t", kNow, kLease),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         absl::StrCat("job s-0000abcd-0 is ", storage::JobStateName(state),
                                      "; only a queued job can be claimed")));
  }
}

// ---------------------------------------------------------------------------------------------
// The lease check

// Every event a worker sends, under a token that is not the job's current lease.
struct WorkerEvent {
  const char* name;
  std::function<absl::StatusOr<JobUpdate>(const JobRecord&, const std::string& token)> apply;
};

std::vector<WorkerEvent> WorkerEvents() {
  return {
      {"hold", [](const JobRecord& j, const std::string& t) { return HoldLease(j, t); }},
      {"renew",
       [](const JobRecord& j, const std::string& t) { return RenewLease(j, t, kNow, kLease, 5); }},
      {"complete",
       [](const JobRecord& j, const std::string& t) {
         return Complete(j, t, JobState::kSucceeded, "", kNow);
       }},
      {"retry",
       [](const JobRecord& j, const std::string& t) {
         return Fail(j, t, AttemptOutcome::kRetry, "boom", kNow);
       }},
      {"permanent",
       [](const JobRecord& j, const std::string& t) {
         return Fail(j, t, AttemptOutcome::kPermanent, "boom", kNow);
       }},
      {"preempted",
       [](const JobRecord& j, const std::string& t) {
         return Fail(j, t, AttemptOutcome::kPreempted, "", kNow);
       }},
  };
}

TEST(JobLifecycleTest, EveryWorkerEventIsLeaseChecked) {
  struct Case {
    const char* what;
    JobRecord job;
    std::string token;
    std::string message;
  };
  JobRecord requeued = Running(/*attempt=*/2);
  requeued.lease_token = "token-of-attempt-2";
  const Case cases[] = {
      {"another lease", requeued, kToken,
       "stale lease for job s-0000abcd-0: the job moved on and is running under another lease "
       "(attempt 2)"},
      {"empty token", Running(), "",
       "stale lease for job s-0000abcd-0: the job moved on and is running under another lease "
       "(attempt 1)"},
      {"requeued", Apply(Running(), ExpireLease(Running(), kNow)), kToken,
       "stale lease for job s-0000abcd-0: the job moved on and is now queued (attempt 1)"},
      {"finished", InState(JobState::kSucceeded), kToken,
       "stale lease for job s-0000abcd-0: the job moved on and is now succeeded (attempt 1)"},
      {"cancelled", InState(JobState::kCancelled), kToken,
       "stale lease for job s-0000abcd-0: the job moved on and is now cancelled (attempt 1)"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(CheckLease(c.job, c.token),
                StatusIs(absl::StatusCode::kFailedPrecondition, c.message))
        << c.what;
    for (const WorkerEvent& event : WorkerEvents()) {
      EXPECT_THAT(event.apply(c.job, c.token),
                  StatusIs(absl::StatusCode::kFailedPrecondition, c.message))
          << c.what << ", " << event.name;
    }
  }
  EXPECT_OK(CheckLease(Running(), kToken));
  for (const WorkerEvent& event : WorkerEvents()) {
    EXPECT_THAT(event.apply(Running(), kToken), IsOk()) << event.name;
  }
}

TEST(JobLifecycleTest, HoldLeaseChangesNothing) {
  ASSERT_OK_AND_ASSIGN(JobUpdate u, HoldLease(Running(), kToken));
  EXPECT_EQ(u, JobUpdate::Of(Running()));
}

TEST(JobLifecycleTest, RenewLeaseExtendsTheLeaseAndRecordsProgress) {
  ASSERT_OK_AND_ASSIGN(JobUpdate u, RenewLease(Running(), kToken, kNow, kLease, 55));
  JobUpdate want = JobUpdate::Of(Running());
  want.lease_expires_at = kNow + kLease;
  want.progress_step = 55;
  EXPECT_EQ(u, want);
  // The duration is checked before the lease.
  for (absl::Duration bad : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    EXPECT_THAT(
        RenewLease(Running(), "stale", kNow, bad, 55),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lease duration must be positive")));
  }
}

TEST(JobLifecycleTest, ProgressOutsideTheJobsStepsIsRefused) {
  // The bounds themselves are steps of the job (100 of them).
  EXPECT_THAT(RenewLease(Running(), kToken, kNow, kLease, 0), IsOk());
  EXPECT_THAT(RenewLease(Running(), kToken, kNow, kLease, 100), IsOk());
  for (int64_t bad : {int64_t{-5}, int64_t{101}, int64_t{1} << 62}) {
    EXPECT_THAT(RenewLease(Running(), kToken, kNow, kLease, bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("progress: step ", bad,
                                      " of job s-0000abcd-0 is outside [0, 100], its steps")));
  }
  // The lease is checked first: a stale holder learns that, whatever it sends.
  EXPECT_THAT(RenewLease(Running(), "stale", kNow, kLease, -5),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(JobLifecycleTest, ACheckpointMustNotBePastTheReportedProgress) {
  // Running() has reported progress 40.
  ASSERT_OK_AND_ASSIGN(JobUpdate u, HoldLeaseForCheckpoint(Running(), kToken, 40));
  EXPECT_EQ(u, JobUpdate::Of(Running()));
  EXPECT_THAT(HoldLeaseForCheckpoint(Running(), kToken, 1), IsOk());
  for (int64_t bad : {int64_t{0}, int64_t{41}, int64_t{1} << 62}) {
    EXPECT_THAT(
        HoldLeaseForCheckpoint(Running(), kToken, bad),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 absl::StrCat("checkpoint: step ", bad,
                              " of job s-0000abcd-0 is outside [1, 40], the steps it has reported "
                              "(progress)")));
  }
  EXPECT_THAT(HoldLeaseForCheckpoint(Running(), "stale", 41),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// ---------------------------------------------------------------------------------------------
// Completion and failure

TEST(JobLifecycleTest, CompleteEndsTheJobAndClearsTheLease) {
  for (JobState state : {JobState::kSucceeded, JobState::kDiverged, JobState::kCancelled}) {
    EXPECT_OK(ValidateCompletion(state));
    ASSERT_OK_AND_ASSIGN(JobUpdate u, Complete(Running(), kToken, state, "loss is nan", kNow));
    EXPECT_EQ(u.state, state);
    EXPECT_EQ(u.error, "loss is nan");
    EXPECT_EQ(u.finished_at, kNow);
    EXPECT_EQ(u.started_at, kT0);
    EXPECT_EQ(u.worker_id, "w1");
    EXPECT_EQ(u.attempt, 1);
    EXPECT_EQ(u.progress_step, 40);
    ExpectNoLease(u);
  }
}

TEST(JobLifecycleTest, CompleteRefusesWhatIsNotACompletion) {
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kFailed}) {
    const std::string message = absl::StrCat("outcome: ", storage::JobStateName(state),
                                             " is not a completion; allowed succeeded, diverged, "
                                             "cancelled");
    EXPECT_THAT(ValidateCompletion(state), StatusIs(absl::StatusCode::kInvalidArgument, message));
    // Checked before the lease.
    EXPECT_THAT(Complete(Running(), "stale", state, "", kNow),
                StatusIs(absl::StatusCode::kInvalidArgument, message));
  }
}

TEST(JobLifecycleTest, FailEndsTheAttemptAsItsOutcomeSays) {
  struct Case {
    const char* what;
    AttemptOutcome outcome;
    int32_t attempt;
    int32_t max_attempts;
    bool cancel_requested;
    JobState state;
    int32_t attempt_after;
    std::string error;
    absl::Time finished_at;
  };
  const absl::Time never = absl::InfinitePast();
  const Case cases[] = {
      {"retry, attempts left", AttemptOutcome::kRetry, 1, 3, false, JobState::kQueued, 1, "boom",
       never},
      {"retry, last attempt", AttemptOutcome::kRetry, 3, 3, false, JobState::kFailed, 3, "boom",
       kNow},
      {"retry, cancel requested", AttemptOutcome::kRetry, 1, 3, true, JobState::kFailed, 1, "boom",
       kNow},
      {"permanent", AttemptOutcome::kPermanent, 1, 3, false, JobState::kFailed, 1, "boom", kNow},
      {"permanent, cancel requested", AttemptOutcome::kPermanent, 1, 3, true, JobState::kFailed, 1,
       "boom", kNow},
      // A hand-back does not spend the attempt, even the only one; it keeps the earlier error.
      {"preempted", AttemptOutcome::kPreempted, 1, 1, false, JobState::kQueued, 0, "earlier",
       never},
  };
  for (const Case& c : cases) {
    JobRecord job = Running(c.attempt, c.max_attempts, c.cancel_requested);
    job.error = "earlier";
    ASSERT_OK_AND_ASSIGN(JobUpdate u, Fail(job, kToken, c.outcome, "boom", kNow));
    EXPECT_EQ(u.state, c.state) << c.what;
    EXPECT_EQ(u.attempt, c.attempt_after) << c.what;
    EXPECT_EQ(u.error, c.error) << c.what;
    EXPECT_EQ(u.finished_at, c.finished_at) << c.what;
    EXPECT_EQ(u.worker_id, "w1") << c.what;
    EXPECT_EQ(u.cancel_requested, c.cancel_requested) << c.what;
    ExpectNoLease(u);
  }
}

TEST(JobLifecycleTest, PreemptingAJobWithAPendingCancelIsRefused) {
  EXPECT_THAT(Fail(Running(1, 3, /*cancel_requested=*/true), kToken, AttemptOutcome::kPreempted,
                   "stopping", kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "job s-0000abcd-0 has a pending cancel request; finish it as cancelled "
                       "instead of releasing it"));
}

// ---------------------------------------------------------------------------------------------
// Lease expiry and cancellation

TEST(JobLifecycleTest, AnExpiredLeaseRequeuesUntilTheAttemptsRunOut) {
  struct Case {
    const char* what;
    JobRecord job;
    JobState state;
    std::string error;
  };
  JobRecord expired_last = Running(3, 3);
  JobRecord expired_cancelled = Running(1, 3, /*cancel_requested=*/true);
  const Case cases[] = {
      {"attempts left", Running(1, 3), JobState::kQueued, ""},
      {"one more left", Running(2, 3), JobState::kQueued, ""},
      {"no attempts left", expired_last, JobState::kFailed,
       "lease of worker w1 expired on attempt 3 of 3; no attempts left"},
      {"cancel requested", expired_cancelled, JobState::kCancelled,
       "cancelled; the lease of worker w1 expired before it stopped"},
  };
  for (const Case& c : cases) {
    const JobUpdate u = ExpireLease(c.job, kNow);
    EXPECT_EQ(u.state, c.state) << c.what;
    EXPECT_EQ(u.attempt, c.job.attempt) << c.what;  // Counted when claimed.
    EXPECT_EQ(u.error, c.error) << c.what;
    EXPECT_EQ(u.finished_at, storage::IsTerminal(c.state) ? kNow : absl::InfinitePast()) << c.what;
    EXPECT_EQ(u.worker_id, "w1") << c.what;
    ExpectNoLease(u);
  }
}

TEST(JobLifecycleTest, OnlyALeaseThatExpiredBeforeNowExpires) {
  JobRecord at_now = Running();
  at_now.lease_expires_at = kNow;  // Expires at now: not yet.
  JobRecord later = Running();
  later.lease_expires_at = kNow + absl::Microseconds(1);
  JobRecord no_lease = Running();
  no_lease.lease_expires_at = absl::InfinitePast();
  for (const JobRecord& job : {at_now, later, no_lease}) {
    EXPECT_EQ(ExpireLease(job, kNow), JobUpdate::Of(job));
  }
  JobRecord just_before = Running();
  just_before.lease_expires_at = kNow - absl::Microseconds(1);
  EXPECT_EQ(ExpireLease(just_before, kNow).state, JobState::kQueued);
  for (JobState state : kAllStates) {
    if (state == JobState::kRunning) continue;
    JobRecord job = InState(state);
    job.lease_expires_at = kT0;  // Even with a stale expiry on record.
    EXPECT_EQ(ExpireLease(job, kNow), JobUpdate::Of(job)) << storage::JobStateName(state);
  }
}

TEST(JobLifecycleTest, CancelFollowsTheJobsState) {
  const JobUpdate queued = Cancel(Queued(), kNow);
  EXPECT_EQ(queued.state, JobState::kCancelled);
  EXPECT_EQ(queued.finished_at, kNow);
  EXPECT_FALSE(queued.cancel_requested);

  const JobUpdate running = Cancel(Running(), kNow);
  JobUpdate flagged = JobUpdate::Of(Running());
  flagged.cancel_requested = true;
  EXPECT_EQ(running, flagged);  // Its worker finishes it.

  for (JobState state : kAllStates) {
    if (!storage::IsTerminal(state)) continue;
    EXPECT_EQ(Cancel(InState(state), kNow), JobUpdate::Of(InState(state)))
        << storage::JobStateName(state);
  }
}

TEST(JobLifecycleTest, ACancelledJobNeverReturnsToTheQueue) {
  const JobRecord job = Apply(Running(1, 3), Cancel(Running(1, 3), kNow));
  ASSERT_TRUE(job.cancel_requested);
  EXPECT_EQ(ExpireLease(job, kNow).state, JobState::kCancelled);
  ASSERT_OK_AND_ASSIGN(JobUpdate failed, Fail(job, kToken, AttemptOutcome::kRetry, "x", kNow));
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_THAT(Fail(job, kToken, AttemptOutcome::kPreempted, "", kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(JobUpdate done, Complete(job, kToken, JobState::kCancelled, "", kNow));
  EXPECT_EQ(done.state, JobState::kCancelled);
}

// ---------------------------------------------------------------------------------------------
// A life

TEST(JobLifecycleTest, AttemptsCountClaimsLessHandBacks) {
  JobRecord job = Queued();
  job.max_attempts = 2;
  auto claim = [&](const std::string& token) {
    auto u = Claim(job, "w", token, kNow, kLease);
    ASSERT_THAT(u, IsOk());
    job = Apply(job, *u);
  };
  claim("a");
  ASSERT_OK_AND_ASSIGN(JobUpdate u, Fail(job, "a", AttemptOutcome::kPreempted, "", kNow));
  job = Apply(job, u);
  EXPECT_EQ(job.attempt, 0);
  claim("b");
  ASSERT_OK_AND_ASSIGN(u, Fail(job, "b", AttemptOutcome::kRetry, "oom", kNow));
  job = Apply(job, u);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.attempt, 1);
  claim("c");
  EXPECT_EQ(job.attempt, 2);
  job = Apply(job, ExpireLease(job, kNow + kLease + absl::Seconds(1)));
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error, "lease of worker w expired on attempt 2 of 2; no attempts left");
}

TEST(JobLifecycleTest, AttemptOutcomeNames) {
  EXPECT_STREQ(AttemptOutcomeName(AttemptOutcome::kRetry), "retry");
  EXPECT_STREQ(AttemptOutcomeName(AttemptOutcome::kPermanent), "permanent");
  EXPECT_STREQ(AttemptOutcomeName(AttemptOutcome::kPreempted), "preempted");
}

}  // namespace
}  // namespace optbench::server
