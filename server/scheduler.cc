#include "server/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace optbench::server {

using storage::JobRecord;
using storage::JobState;

Scheduler::Scheduler(storage::Store* store, Clock* clock, SchedulerOptions options)
    : store_(store), clock_(clock), options_(options) {}

uint64_t Scheduler::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

uint64_t Scheduler::state_version() const {
  absl::MutexLock lock(&mu_);
  return state_version_;
}

void Scheduler::Bump(bool state_change) {
  absl::MutexLock lock(&mu_);
  ++version_;
  if (state_change) ++state_version_;
}

uint64_t Scheduler::AwaitChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return version_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return version_;
}

uint64_t Scheduler::AwaitStateChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return state_version_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return state_version_;
}

absl::StatusOr<storage::SweepRecord> Scheduler::CreateSweep(const std::string& name,
                                                            const std::string& source,
                                                            std::vector<storage::NewJob> jobs) {
  for (storage::NewJob& job : jobs) {
    if (job.max_attempts <= 0) job.max_attempts = options_.max_attempts;
  }
  auto sweep = store_->CreateSweep(name, source, jobs, clock_->Now());
  if (sweep.ok()) {
    Log(LogLevel::kInfo, "scheduler", "sweep %s '%s': %d jobs queued", sweep->id, name,
        jobs.size());
    Bump();
  }
  return sweep;
}

absl::StatusOr<std::optional<JobRecord>> Scheduler::Acquire(
    const std::string& worker_id, absl::Duration wait, const std::function<bool()>& abandoned) {
  // The deadline is real time (it bounds an RPC); lease arithmetic uses the injected clock.
  const absl::Time deadline = absl::Now() + std::min(wait, options_.max_acquire_wait);
  while (true) {
    const uint64_t seen = state_version();
    if (auto expired = ExpireLeases(); !expired.ok()) return expired.status();
    auto job = store_->ClaimJob(worker_id, clock_->Now(), options_.lease);
    if (!job.ok()) return job.status();
    if (job->has_value()) {
      Log(LogLevel::kInfo, "scheduler", "job %s (attempt %d) leased to %s", (*job)->id,
          (*job)->attempt, worker_id);
      Bump();
      return job;
    }
    const absl::Time now = absl::Now();
    if (now >= deadline || (abandoned && abandoned())) return std::optional<JobRecord>();
    // Wake on any change (a submit, a requeue) or at least once a second to reap leases.
    AwaitStateChange(seen, std::min(deadline - now, absl::Seconds(1)));
  }
}

absl::StatusOr<bool> Scheduler::Heartbeat(const std::string& job_id, const std::string& token,
                                          int64_t progress_step) {
  auto cancel = store_->RenewLease(job_id, token, clock_->Now(), options_.lease, progress_step);
  if (cancel.ok()) Bump(/*state_change=*/false);
  return cancel;
}

absl::Status Scheduler::SetDatasetInfo(const std::string& job_id, const std::string& token,
                                       int64_t num_classes,
                                       const std::vector<int64_t>& train_counts,
                                       const std::vector<int64_t>& test_counts) {
  return store_->SetDatasetInfo(job_id, token, num_classes, train_counts, test_counts);
}

absl::StatusOr<bool> Scheduler::ReportMetrics(const std::string& job_id, const std::string& token,
                                              int64_t step,
                                              const std::vector<storage::MetricRow>& rows) {
  auto cancel =
      store_->AppendMetricsAndRenewLease(job_id, token, rows, clock_->Now(), options_.lease, step);
  if (cancel.ok()) Bump(/*state_change=*/false);
  return cancel;
}

absl::Status Scheduler::Complete(const std::string& job_id, const std::string& token,
                                 JobState final_state, const std::string& message) {
  if (final_state != JobState::kSucceeded && final_state != JobState::kDiverged &&
      final_state != JobState::kCancelled) {
    return absl::InvalidArgumentError(
        absl::StrCat("outcome: ", storage::JobStateName(final_state),
                     " is not a completion; allowed succeeded, diverged, cancelled"));
  }
  absl::Status s = store_->FinishJob(job_id, token, final_state, message, clock_->Now());
  if (s.ok()) {
    Log(LogLevel::kInfo, "scheduler", "job %s %s%s%s", job_id, storage::JobStateName(final_state),
        message.empty() ? "" : ": ", message);
    Bump();
  }
  return s;
}

absl::StatusOr<JobState> Scheduler::Fail(const std::string& job_id, const std::string& token,
                                         const std::string& error, bool release, bool permanent) {
  absl::StatusOr<JobState> state;
  if (permanent && !release) {
    absl::Status s = store_->FinishJob(job_id, token, JobState::kFailed, error, clock_->Now());
    if (!s.ok()) return s;
    state = JobState::kFailed;
  } else if (release) {
    absl::Status s = store_->ReleaseJob(job_id, token);
    if (!s.ok()) return s;
    state = JobState::kQueued;
  } else {
    state = store_->RetryOrFailJob(job_id, token, error, clock_->Now());
    if (!state.ok()) return state.status();
  }
  Log(LogLevel::kWarning, "scheduler", "job %s %s (%s): %s", job_id,
      release ? "handed back" : "attempt failed", storage::JobStateName(*state), error);
  Bump();
  return state;
}

absl::Status Scheduler::CancelJob(const std::string& job_id) {
  absl::Status s = store_->CancelJob(job_id, clock_->Now());
  if (s.ok()) Bump();
  return s;
}

absl::Status Scheduler::CancelSweep(const std::string& sweep_id) {
  absl::Status s = store_->CancelSweep(sweep_id, clock_->Now());
  if (s.ok()) Bump();
  return s;
}

absl::StatusOr<std::vector<std::string>> Scheduler::ExpireLeases() {
  auto expired = store_->ExpireLeases(clock_->Now());
  if (expired.ok() && !expired->empty()) {
    for (const std::string& id : *expired) {
      Log(LogLevel::kWarning, "scheduler", "lease of job %s expired; requeued or failed", id);
    }
    Bump();
  }
  return expired;
}

}  // namespace optbench::server
