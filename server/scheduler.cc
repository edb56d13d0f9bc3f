#include "server/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace optbench::server {

using storage::JobRecord;
using storage::JobState;

Scheduler::Scheduler(storage::Store* store, Clock* clock, SchedulerOptions options)
    : store_(store), clock_(clock), options_(options), started_(clock->Now()) {}

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

absl::StatusOr<storage::SweepRecord> Scheduler::CreateSweep(
    const std::string& name, const std::string& source, std::vector<storage::NewJob> jobs,
    const storage::SweepAnnotations& annotations) {
  for (storage::NewJob& job : jobs) {
    if (job.max_attempts <= 0) job.max_attempts = options_.max_attempts;
  }
  auto sweep = store_->CreateSweep(name, source, annotations, jobs, clock_->Now());
  if (sweep.ok()) {
    Log(LogLevel::kInfo, "scheduler", "sweep %s '%s': %d jobs queued", sweep->id, name,
        jobs.size());
    Bump();
  }
  return sweep;
}

absl::StatusOr<storage::SweepRecord> Scheduler::GetSweep(const std::string& sweep_id) {
  return store_->GetSweep(sweep_id);
}

absl::StatusOr<storage::SweepRecord> Scheduler::FindSweepByName(const std::string& name) {
  return store_->FindSweepByName(name);
}

absl::StatusOr<storage::SweepPage> Scheduler::ListSweeps(const storage::SweepFilter& filter) {
  return store_->ListSweeps(filter);
}

absl::StatusOr<storage::SweepRecord> Scheduler::UpdateSweep(
    const std::string& sweep_id, const std::vector<std::string>& add_tags,
    const std::vector<std::string>& remove_tags, const std::optional<std::string>& note) {
  return store_->UpdateSweep(sweep_id, add_tags, remove_tags, note);
}

absl::StatusOr<storage::SweepDeletion> Scheduler::DeleteSweep(const std::string& sweep_id) {
  // A running job's worker still writes to it: deleting under it would turn its next report into
  // NotFound mid-run. Checked inside the deleting transaction, so no job is leased in between.
  auto deleted = store_->DeleteSweep(sweep_id, [&](const std::vector<JobRecord>& jobs) {
    std::vector<std::string> running;
    for (const JobRecord& job : jobs) {
      if (job.state == JobState::kRunning) running.push_back(job.id);
    }
    if (running.empty()) return absl::OkStatus();
    constexpr size_t kNamed = 5;
    std::string names =
        absl::StrJoin(running.begin(), running.begin() + std::min(running.size(), kNamed), ", ");
    if (running.size() > kNamed) absl::StrAppend(&names, ", ...");
    return absl::FailedPreconditionError(absl::StrFormat(
        "sweep %s has %d running job(s) (%s); cancel it and wait until they stop, or delete "
        "with --force (cancels, waits, then deletes)",
        sweep_id, running.size(), names));
  });
  if (deleted.ok()) {
    Log(LogLevel::kInfo, "scheduler", "sweep %s deleted: %d jobs, %d metric rows", sweep_id,
        deleted->jobs, deleted->metric_rows);
    Bump();
  }
  return deleted;
}

absl::StatusOr<JobRecord> Scheduler::GetJob(const std::string& job_id) {
  return store_->GetJob(job_id);
}

absl::StatusOr<storage::JobPage> Scheduler::ListJobs(const storage::JobFilter& filter) {
  return store_->ListJobs(filter);
}

absl::StatusOr<std::vector<std::pair<JobState, int64_t>>> Scheduler::CountJobs(
    const std::string& sweep_id) {
  return store_->CountJobs(sweep_id);
}

absl::StatusOr<std::vector<storage::MetricRow>> Scheduler::ReadMetrics(
    const storage::MetricQuery& query) {
  return store_->ReadMetrics(query);
}

absl::StatusOr<storage::KeptModelChunk> Scheduler::ReadKeptModelChunk(const std::string& job_id,
                                                                      int64_t offset) {
  return store_->ReadKeptModelChunk(job_id, offset);
}

absl::StatusOr<std::vector<storage::WorkerRecord>> Scheduler::ListWorkers() {
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<storage::WorkerRecord> stored, store_->ListWorkers());
  const absl::Time forget_before =
      clock_->Now() - options_.lease * options_.forget_worker_after_leases;
  std::vector<storage::WorkerRecord> out;
  absl::MutexLock lock(&mu_);
  for (storage::WorkerRecord& w : stored) {
    if (auto it = seen_.find(w.id); it != seen_.end())
      w.last_seen = std::max(w.last_seen, it->second);
    if (w.last_seen >= forget_before) out.push_back(std::move(w));
  }
  return out;
}

bool Scheduler::IsLost(const storage::WorkerRecord& worker) const {
  return clock_->Now() - worker.last_seen > options_.lease;
}

void Scheduler::Seen(const std::string& worker_id) {
  if (worker_id.empty()) return;
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  seen_[worker_id] = now;
}

absl::Status Scheduler::RegisterWorker(const std::string& worker_id, const std::string& name,
                                       int32_t slots) {
  storage::WorkerRecord worker;
  worker.id = worker_id;
  worker.name = name;
  worker.slots = slots;
  worker.last_seen = clock_->Now();
  OPTBENCH_RETURN_IF_ERROR(store_->UpsertWorker(worker));
  Seen(worker_id);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<JobRecord>> Scheduler::Acquire(
    const std::string& worker_id, absl::Duration wait, const std::function<bool()>& abandoned) {
  OPTBENCH_RETURN_IF_ERROR(ValidateClaim(worker_id, options_.lease));
  // The oldest queued job; the store holds its write lock from the read to the write, so two
  // acquirers never claim the same job.
  storage::JobSelection oldest_queued;
  oldest_queued.states = {JobState::kQueued};
  oldest_queued.limit = 1;
  // The deadline is real time (it bounds an RPC); lease arithmetic uses the injected clock.
  const absl::Time deadline = absl::Now() + std::min(wait, options_.max_acquire_wait);
  while (true) {
    // A worker waiting in a long poll is alive: seen at every wake-up (at least once a second).
    Seen(worker_id);
    const uint64_t seen = state_version();
    if (auto expired = ExpireLeases(); !expired.ok()) return expired.status();
    const absl::Time now = clock_->Now();
    auto claimed = store_->UpdateJobs(oldest_queued, [&](const JobRecord& job) {
      return Claim(job, worker_id, NewLeaseToken(), now, options_.lease);
    });
    if (!claimed.ok()) return claimed.status();
    if (!claimed->empty()) {
      JobRecord& job = claimed->front();
      LogEvent(LogLevel::kInfo, "scheduler", JobFields(job.id, job.attempt, worker_id),
               "job %s (attempt %d) leased to %s", job.id, job.attempt, worker_id);
      counters_.leases.fetch_add(1, std::memory_order_relaxed);
      Bump();
      return std::make_optional(std::move(job));
    }
    const absl::Time real_now = absl::Now();
    if (real_now >= deadline || (abandoned && abandoned())) return std::optional<JobRecord>();
    // Wake on any change (a submit, a requeue) or at least once a second to reap leases.
    AwaitStateChange(seen, std::min(deadline - real_now, absl::Seconds(1)));
  }
}

absl::StatusOr<bool> Scheduler::Heartbeat(const std::string& job_id, const std::string& token,
                                          int64_t progress_step) {
  const absl::Time now = clock_->Now();
  auto updated = store_->UpdateJob(job_id, [&](const JobRecord& job) {
    return RenewLease(job, token, now, options_.lease, progress_step);
  });
  if (!updated.ok()) return updated.status();
  Seen(updated->worker_id);
  Bump(/*state_change=*/false);
  return updated->cancel_requested;
}

absl::Status Scheduler::SetDatasetInfo(const std::string& job_id, const std::string& token,
                                       int64_t num_classes,
                                       const std::vector<int64_t>& train_counts,
                                       const std::vector<int64_t>& test_counts,
                                       const std::string& metrics) {
  return store_->SetDatasetInfo(job_id, num_classes, train_counts, test_counts, metrics,
                                [&](const JobRecord& job) { return HoldLease(job, token); });
}

absl::StatusOr<bool> Scheduler::ReportMetrics(const std::string& job_id, const std::string& token,
                                              int64_t step,
                                              const std::vector<storage::MetricRow>& rows) {
  // One transaction for the batch and the lease renewal it implies: both or neither.
  const absl::Time now = clock_->Now();
  auto updated = store_->AppendMetrics(job_id, rows, [&](const JobRecord& job) {
    return RenewLease(job, token, now, options_.lease, step);
  });
  if (!updated.ok()) return updated.status();
  Seen(updated->worker_id);
  counters_.report_batches.fetch_add(1, std::memory_order_relaxed);
  uint64_t values = 0;
  for (const storage::MetricRow& row : rows) values += row.values.size();
  counters_.report_values.fetch_add(values, std::memory_order_relaxed);
  Bump(/*state_change=*/false);
  return updated->cancel_requested;
}

absl::Status Scheduler::SaveCheckpoint(const std::string& job_id, const std::string& token,
                                       int64_t step, const std::string& data, int keep) {
  return store_->SaveCheckpoint(job_id, step, data, keep, [&](const JobRecord& job) {
    return HoldLeaseForCheckpoint(job, token, step);
  });
}

absl::StatusOr<std::optional<storage::CheckpointRecord>> Scheduler::LoadCheckpoint(
    const std::string& job_id, const std::string& token, int64_t before_step) {
  return store_->LoadCheckpoint(job_id, before_step,
                                [&](const JobRecord& job) { return HoldLease(job, token); });
}

absl::StatusOr<JobRecord> Scheduler::SaveKeptModelChunk(const std::string& job_id,
                                                        const std::string& token,
                                                        const storage::KeptModelChunk& chunk) {
  // A model can take a while to upload: each piece renews the lease as a heartbeat would,
  // without moving the job's progress.
  const absl::Time now = clock_->Now();
  auto updated = store_->SaveKeptModelChunk(job_id, chunk, [&](const JobRecord& job) {
    return RenewLease(job, token, now, options_.lease, job.progress_step);
  });
  if (!updated.ok()) return updated.status();
  Seen(updated->worker_id);
  Bump(/*state_change=*/false);
  return updated;
}

absl::StatusOr<JobRecord> Scheduler::LeasedJob(const std::string& job_id,
                                               const std::string& token) {
  return store_->UpdateJob(job_id, [&](const JobRecord& job) { return HoldLease(job, token); });
}

absl::Status Scheduler::Complete(const std::string& job_id, const std::string& token,
                                 JobState final_state, const std::string& message) {
  OPTBENCH_RETURN_IF_ERROR(ValidateCompletion(final_state));
  const absl::Time now = clock_->Now();
  auto updated = store_->UpdateJob(job_id, [&](const JobRecord& job) {
    return server::Complete(job, token, final_state, message, now);
  });
  if (!updated.ok()) return updated.status();
  LogEvent(LogLevel::kInfo, "scheduler", JobFields(job_id, updated->attempt, updated->worker_id),
           "job %s %s%s%s", job_id, storage::JobStateName(final_state), message.empty() ? "" : ": ",
           message);
  Bump();
  return absl::OkStatus();
}

absl::StatusOr<JobState> Scheduler::Fail(const std::string& job_id, const std::string& token,
                                         const std::string& error, AttemptOutcome outcome) {
  const absl::Time now = clock_->Now();
  auto updated = store_->UpdateJob(
      job_id, [&](const JobRecord& job) { return server::Fail(job, token, outcome, error, now); });
  if (!updated.ok()) return updated.status();
  if (updated->state == JobState::kQueued) {
    counters_.requeues.fetch_add(1, std::memory_order_relaxed);
  }
  LogEvent(LogLevel::kWarning, "scheduler", JobFields(job_id, updated->attempt, updated->worker_id),
           "job %s %s (%s): %s", job_id,
           outcome == AttemptOutcome::kPreempted ? "handed back" : "attempt failed",
           storage::JobStateName(updated->state), error);
  Bump();
  return updated->state;
}

absl::Status Scheduler::CancelJob(const std::string& job_id) {
  const absl::Time now = clock_->Now();
  auto updated =
      store_->UpdateJob(job_id, [&](const JobRecord& job) { return server::Cancel(job, now); });
  if (!updated.ok()) return updated.status();
  Bump();
  return absl::OkStatus();
}

absl::Status Scheduler::CancelSweep(const std::string& sweep_id) {
  // Terminal jobs are left alone anyway; not selecting them spares reading them.
  storage::JobSelection live;
  live.sweep_id = sweep_id;
  live.states = {JobState::kQueued, JobState::kRunning};
  const absl::Time now = clock_->Now();
  auto changed =
      store_->UpdateJobs(live, [&](const JobRecord& job) { return server::Cancel(job, now); });
  if (!changed.ok()) return changed.status();
  Bump();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Scheduler::ExpireLeases() {
  const absl::Time now = clock_->Now();
  if (now < started_ + options_.lease) return std::vector<std::string>();
  storage::JobSelection expired;
  expired.states = {JobState::kRunning};
  expired.lease_expires_before = now;
  auto changed =
      store_->UpdateJobs(expired, [&](const JobRecord& job) { return ExpireLease(job, now); });
  if (!changed.ok()) return changed.status();
  std::vector<std::string> ids;
  for (const JobRecord& job : *changed) {
    LogEvent(LogLevel::kWarning, "scheduler", JobFields(job.id, job.attempt, job.worker_id),
             "lease of job %s expired; now %s", job.id, storage::JobStateName(job.state));
    counters_.lease_expiries.fetch_add(1, std::memory_order_relaxed);
    if (job.state == JobState::kQueued) counters_.requeues.fetch_add(1, std::memory_order_relaxed);
    ids.push_back(job.id);
  }
  if (!ids.empty()) Bump();
  return ids;
}

std::string Scheduler::NewLeaseToken() {
  // A generator per call: seeded from the process-wide entropy pool, and no lock to share.
  absl::BitGen bitgen;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(bitgen),
                         absl::Uniform<uint64_t>(bitgen));
}

}  // namespace optbench::server
