// The job lifecycle: every rule for how a job changes (claim, lease renewal, completion, failure,
// preemption, lease expiry, cancellation) as pure functions over the job as stored. No SQL, no
// I/O, no clock: each takes the job and its event and returns the job's new lifecycle fields
// (storage::JobUpdate) or why the event is refused. The Scheduler hands them to the store as
// storage::JobDecisions, which the store applies in the transaction that read the job.
//
//   QUEUED  --Claim--------------> RUNNING (attempt + 1, a new lease, progress 0)
//   RUNNING --RenewLease---------> RUNNING (lease extended, progress recorded)
//   RUNNING --Complete-----------> SUCCEEDED | DIVERGED | CANCELLED
//   RUNNING --Fail(kRetry)-------> QUEUED while attempts remain, else FAILED
//   RUNNING --Fail(kPermanent)---> FAILED
//   RUNNING --Fail(kPreempted)---> QUEUED, the attempt not counted
//   RUNNING --ExpireLease--------> QUEUED while attempts remain, else FAILED ("no attempts left")
//   QUEUED  --Cancel-------------> CANCELLED
//   RUNNING --Cancel-------------> RUNNING with cancel_requested (its worker finishes it)
// A job whose cancellation was requested never returns to the queue: an expired lease makes it
// CANCELLED, a failed attempt FAILED, and a preemption is refused (FailedPrecondition).
//
// Every event a worker sends carries its lease token and is lease-checked (CheckLease): refused
// with FailedPrecondition unless the job is RUNNING under exactly that token, so a worker whose
// lease expired cannot write into the job's next attempt.
//
//   absl::StatusOr<storage::JobRecord> job = store->UpdateJob(
//       job_id, [&](const storage::JobRecord& job) { return Complete(job, token, state, "", now);
//       });
#ifndef OPTBENCH_SERVER_JOB_LIFECYCLE_H_
#define OPTBENCH_SERVER_JOB_LIFECYCLE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace optbench::server {

// How an attempt that did not complete ends (the worker's FailJob).
enum class AttemptOutcome {
  kRetry,      // It failed: the attempt counts; requeued while attempts remain, else FAILED.
  kPermanent,  // Retrying cannot help (a bad spec, a malformed data file): FAILED now.
  kPreempted,  // Handed back (the worker is stopping): requeued, the attempt not counted.
};
const char* AttemptOutcomeName(AttemptOutcome outcome);  // "retry", "permanent", "preempted".

// Checks of an event alone, whatever the job: InvalidArgument naming the bad value. The events
// below run them too; the Scheduler also runs them before it reads a job, so a bad request fails
// the same way for every job.
absl::Status ValidateLeaseDuration(absl::Duration lease);                        // lease > 0.
absl::Status ValidateClaim(const std::string& worker_id, absl::Duration lease);  // Non-empty id.
// One of kSucceeded, kDiverged, kCancelled (a failure is Fail's).
absl::Status ValidateCompletion(storage::JobState final_state);

// OK if `job` is RUNNING under `token`; else FailedPrecondition ("stale lease for job X: the job
// moved on ...", naming its state or that another lease holds it, and its attempt).
absl::Status CheckLease(const storage::JobRecord& job, const std::string& token);

// Claims a QUEUED job (FailedPrecondition for any other state) for `worker_id` under the new lease
// `token` (the caller's random token), expiring at now + lease. The error text of a previous
// failed attempt stays until the job ends.
absl::StatusOr<storage::JobUpdate> Claim(const storage::JobRecord& job,
                                         const std::string& worker_id, const std::string& token,
                                         absl::Time now, absl::Duration lease);

// The lease check of a worker's data writes (metrics, dataset info, checkpoints): CheckLease,
// and the job unchanged.
absl::StatusOr<storage::JobUpdate> HoldLease(const storage::JobRecord& job,
                                             const std::string& token);

// InvalidArgument naming `what`, the job and its range unless 0 <= step <= job.total_steps: what
// a lease holder reports (progress, a metric batch's step) lies within the job's steps.
absl::Status CheckStep(const storage::JobRecord& job, int64_t step, const char* what);

// HoldLease for a checkpoint at `step`: also InvalidArgument unless 1 <= step <= the job's
// progress, so that no checkpoint claims steps the job has not reported (the newest two are kept
// by step: one from the future would displace the real ones).
absl::StatusOr<storage::JobUpdate> HoldLeaseForCheckpoint(const storage::JobRecord& job,
                                                          const std::string& token, int64_t step);

// Lease-checked; the lease then expires at now + lease and progress_step is recorded.
// InvalidArgument (CheckStep) for a progress outside the job's steps.
absl::StatusOr<storage::JobUpdate> RenewLease(const storage::JobRecord& job,
                                              const std::string& token, absl::Time now,
                                              absl::Duration lease, int64_t progress_step);

// Lease-checked (after ValidateCompletion): the job ends in `final_state` with `message` as its
// error text, at `now`; the lease is cleared.
absl::StatusOr<storage::JobUpdate> Complete(const storage::JobRecord& job, const std::string& token,
                                            storage::JobState final_state,
                                            const std::string& message, absl::Time now);

// Lease-checked: the attempt ends as `outcome` says (see AttemptOutcome); the lease is cleared.
// kRetry and kPermanent record `error` (kRetry also on a requeued job); kPreempted leaves the
// error and the worker as they were, and is FailedPrecondition for a job whose cancellation was
// requested (finish it as cancelled instead).
absl::StatusOr<storage::JobUpdate> Fail(const storage::JobRecord& job, const std::string& token,
                                        AttemptOutcome outcome, const std::string& error,
                                        absl::Time now);

// For a RUNNING job whose lease expired before `now`: requeued while attempts remain; else FAILED
// ("lease of worker W expired on attempt A of M; no attempts left"), or CANCELLED if its
// cancellation was requested. Any other job is left unchanged.
storage::JobUpdate ExpireLease(const storage::JobRecord& job, absl::Time now);

// QUEUED: CANCELLED at `now`. RUNNING: cancel_requested (the worker learns it from its next
// report and finishes the job as cancelled). A terminal job is left unchanged.
storage::JobUpdate Cancel(const storage::JobRecord& job, absl::Time now);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_JOB_LIFECYCLE_H_
