#include "server/job_lifecycle.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace optbench::server {
namespace {

using storage::JobRecord;
using storage::JobState;
using storage::JobUpdate;

void ClearLease(JobUpdate* update) {
  update->lease_token.clear();
  update->lease_expires_at = absl::InfinitePast();
}

// The job leaves the queue for good.
JobUpdate End(const JobRecord& job, JobState state, const std::string& error, absl::Time now) {
  JobUpdate update = JobUpdate::Of(job);
  update.state = state;
  update.error = error;
  update.finished_at = now;
  ClearLease(&update);
  return update;
}

bool AttemptsLeft(const JobRecord& job) { return job.attempt < job.max_attempts; }

// A job without a lease (InfinitePast: none stored) has nothing to expire.
bool LeaseExpired(const JobRecord& job, absl::Time now) {
  return job.state == JobState::kRunning && job.lease_expires_at != absl::InfinitePast() &&
         job.lease_expires_at < now;
}

}  // namespace

const char* AttemptOutcomeName(AttemptOutcome outcome) {
  switch (outcome) {
    case AttemptOutcome::kRetry:
      return "retry";
    case AttemptOutcome::kPermanent:
      return "permanent";
    case AttemptOutcome::kPreempted:
      return "preempted";
  }
  return "unknown";
}

absl::Status ValidateLeaseDuration(absl::Duration lease) {
  if (lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease duration must be positive, got ", absl::FormatDuration(lease)));
  }
  return absl::OkStatus();
}

absl::Status ValidateClaim(const std::string& worker_id, absl::Duration lease) {
  if (worker_id.empty()) return absl::InvalidArgumentError("worker_id is empty");
  return ValidateLeaseDuration(lease);
}

absl::Status ValidateCompletion(JobState final_state) {
  if (final_state != JobState::kSucceeded && final_state != JobState::kDiverged &&
      final_state != JobState::kCancelled) {
    return absl::InvalidArgumentError(
        absl::StrCat("outcome: ", storage::JobStateName(final_state),
                     " is not a completion; allowed succeeded, diverged, cancelled"));
  }
  return absl::OkStatus();
}

absl::Status CheckLease(const JobRecord& job, const std::string& token) {
  if (job.state != JobState::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrFormat("stale lease for job %s: the job moved on and is now %s (attempt %d)",
                        job.id, storage::JobStateName(job.state), job.attempt));
  }
  if (token.empty() || job.lease_token != token) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "stale lease for job %s: the job moved on and is running under another lease (attempt "
        "%d)",
        job.id, job.attempt));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobUpdate> Claim(const JobRecord& job, const std::string& worker_id,
                                const std::string& token, absl::Time now, absl::Duration lease) {
  OPTBENCH_RETURN_IF_ERROR(ValidateClaim(worker_id, lease));
  if (job.state != JobState::kQueued) {
    return absl::FailedPreconditionError(
        absl::StrFormat("job %s is %s; only a queued job can be claimed", job.id,
                        storage::JobStateName(job.state)));
  }
  JobUpdate update = JobUpdate::Of(job);
  update.state = JobState::kRunning;
  update.attempt = job.attempt + 1;
  update.worker_id = worker_id;
  update.lease_token = token;
  update.lease_expires_at = now + lease;
  update.started_at = now;
  update.progress_step = 0;
  return update;
}

absl::StatusOr<JobUpdate> HoldLease(const JobRecord& job, const std::string& token) {
  OPTBENCH_RETURN_IF_ERROR(CheckLease(job, token));
  return JobUpdate::Of(job);
}

absl::Status CheckStep(const JobRecord& job, int64_t step, const char* what) {
  if (step < 0 || step > job.total_steps) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": step ", step, " of job ", job.id,
                                                   " is outside [0, ", job.total_steps,
                                                   "], its steps"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobUpdate> HoldLeaseForCheckpoint(const JobRecord& job, const std::string& token,
                                                 int64_t step) {
  OPTBENCH_RETURN_IF_ERROR(CheckLease(job, token));
  if (step < 1 || step > job.progress_step) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: step ", step, " of job ", job.id,
                                                   " is outside [1, ", job.progress_step,
                                                   "], the steps it has reported (progress)"));
  }
  return JobUpdate::Of(job);
}

absl::StatusOr<JobUpdate> RenewLease(const JobRecord& job, const std::string& token, absl::Time now,
                                     absl::Duration lease, int64_t progress_step) {
  OPTBENCH_RETURN_IF_ERROR(ValidateLeaseDuration(lease));
  OPTBENCH_RETURN_IF_ERROR(CheckLease(job, token));
  OPTBENCH_RETURN_IF_ERROR(CheckStep(job, progress_step, "progress"));
  JobUpdate update = JobUpdate::Of(job);
  update.lease_expires_at = now + lease;
  update.progress_step = progress_step;
  return update;
}

absl::StatusOr<JobUpdate> Complete(const JobRecord& job, const std::string& token,
                                   JobState final_state, const std::string& message,
                                   absl::Time now) {
  OPTBENCH_RETURN_IF_ERROR(ValidateCompletion(final_state));
  OPTBENCH_RETURN_IF_ERROR(CheckLease(job, token));
  return End(job, final_state, message, now);
}

absl::StatusOr<JobUpdate> Fail(const JobRecord& job, const std::string& token,
                               AttemptOutcome outcome, const std::string& error, absl::Time now) {
  OPTBENCH_RETURN_IF_ERROR(CheckLease(job, token));
  switch (outcome) {
    case AttemptOutcome::kPermanent:
      return End(job, JobState::kFailed, error, now);
    case AttemptOutcome::kPreempted: {
      if (job.cancel_requested) {
        // Requeueing would run a job the user cancelled.
        return absl::FailedPreconditionError(absl::StrFormat(
            "job %s has a pending cancel request; finish it as cancelled instead of releasing it",
            job.id));
      }
      JobUpdate update = JobUpdate::Of(job);
      update.state = JobState::kQueued;
      update.attempt = job.attempt - 1;
      ClearLease(&update);
      return update;
    }
    case AttemptOutcome::kRetry:
      break;
  }
  // A job the user asked to cancel is not run again.
  if (job.cancel_requested || !AttemptsLeft(job)) return End(job, JobState::kFailed, error, now);
  JobUpdate update = JobUpdate::Of(job);
  update.state = JobState::kQueued;
  update.error = error;
  update.finished_at = absl::InfinitePast();
  ClearLease(&update);
  return update;
}

JobUpdate ExpireLease(const JobRecord& job, absl::Time now) {
  if (!LeaseExpired(job, now)) return JobUpdate::Of(job);
  // A job whose cancel was requested never goes back to the queue.
  if (job.cancel_requested) {
    return End(job, JobState::kCancelled,
               absl::StrFormat("cancelled; the lease of worker %s expired before it stopped",
                               job.worker_id),
               now);
  }
  if (!AttemptsLeft(job)) {
    return End(job, JobState::kFailed,
               absl::StrFormat("lease of worker %s expired on attempt %d of %d; no attempts left",
                               job.worker_id, job.attempt, job.max_attempts),
               now);
  }
  JobUpdate update = JobUpdate::Of(job);
  update.state = JobState::kQueued;
  ClearLease(&update);
  return update;
}

JobUpdate Cancel(const JobRecord& job, absl::Time now) {
  JobUpdate update = JobUpdate::Of(job);
  if (job.state == JobState::kQueued) {
    update.state = JobState::kCancelled;
    update.finished_at = now;
  } else if (job.state == JobState::kRunning) {
    update.cancel_requested = true;
  }
  return update;
}

}  // namespace optbench::server
