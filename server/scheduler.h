// Scheduler: the coordinator's one door to its state. It applies the job lifecycle
// (server/job_lifecycle.h) through a Store with a Clock (no network), so leasing, expiry, requeue
// and attempt limits are testable with an injected clock; the gRPC services call only this.
#ifndef OPTBENCH_SERVER_SCHEDULER_H_
#define OPTBENCH_SERVER_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/job_lifecycle.h"
#include "storage/store.h"

namespace optbench::server {

struct SchedulerOptions {
  // A lease not renewed (heartbeat or metric batch) for this long expires and the job is
  // requeued.
  absl::Duration lease = absl::Seconds(30);
  // How often workers are told to heartbeat (well inside the lease).
  absl::Duration heartbeat = absl::Seconds(5);
  // Longest AcquireJob long poll.
  absl::Duration max_acquire_wait = absl::Seconds(20);
  int32_t max_attempts = 3;
  // A worker not seen (registration, acquire, heartbeat, metric batch, model piece) for more
  // than one lease is lost (GetStatus says so); after this many leases it is no longer listed.
  int32_t forget_worker_after_leases = 10;
};

// Thread-safe. Does not own `store` or `clock`, which must outlive it.
//
// Every change of a job goes through a job_lifecycle.h rule, applied by the store in the
// transaction that read the job. Reads pass straight through to the store (a Scheduler is a
// storage::StoreReader, so query code takes either).
//
// Every state change bumps a version counter; AwaitChange lets watchers and long-polling workers
// sleep until something happened instead of polling the database.
// What the scheduler has done since it started, for the coordinator's Prometheus metrics. Each
// counter only grows.
struct SchedulerCounters {
  std::atomic<uint64_t> leases{0};          // jobs handed to a worker (every attempt)
  std::atomic<uint64_t> lease_expiries{0};  // leases that ran out (whatever became of the job)
  std::atomic<uint64_t> requeues{0};        // attempts that ended with the job queued again
  std::atomic<uint64_t> report_batches{0};  // metric batches stored
  std::atomic<uint64_t> report_values{0};   // values in them (a per-class row counts each class)
};

class Scheduler final : public storage::StoreReader {
 public:
  Scheduler(storage::Store* store, Clock* clock, SchedulerOptions options);

  const SchedulerOptions& options() const { return options_; }
  Clock* clock() const { return clock_; }

  // storage::StoreReader: the store's reads and errors.
  absl::StatusOr<storage::SweepRecord> GetSweep(const std::string& sweep_id) override;
  absl::StatusOr<storage::SweepRecord> FindSweepByName(const std::string& name) override;
  using storage::StoreReader::ListSweeps;
  absl::StatusOr<storage::SweepPage> ListSweeps(const storage::SweepFilter& filter) override;
  absl::StatusOr<storage::JobRecord> GetJob(const std::string& job_id) override;
  absl::StatusOr<storage::JobPage> ListJobs(const storage::JobFilter& filter) override;
  absl::StatusOr<std::vector<std::pair<storage::JobState, int64_t>>> CountJobs(
      const std::string& sweep_id) override;
  absl::StatusOr<std::vector<storage::MetricRow>> ReadMetrics(
      const storage::MetricQuery& query) override;
  absl::StatusOr<storage::KeptModelChunk> ReadKeptModelChunk(const std::string& job_id,
                                                             int64_t offset) override;
  // The workers heard from within forget_worker_after_leases leases, each with the last time it
  // was (RegisterWorker, Acquire, Heartbeat, ReportMetrics, SaveKeptModelChunk), oldest id first.
  absl::StatusOr<std::vector<storage::WorkerRecord>> ListWorkers() override;
  // True for a worker not heard from for more than one lease (GetStatus's "lost").
  bool IsLost(const storage::WorkerRecord& worker) const;

  // Records the worker (replacing what was known of `worker_id`) as seen now. The store's
  // InvalidArgument for an empty id or negative slots.
  absl::Status RegisterWorker(const std::string& worker_id, const std::string& name, int32_t slots);

  // Creates the sweep with all its jobs QUEUED (all or nothing).
  absl::StatusOr<storage::SweepRecord> CreateSweep(
      const std::string& name, const std::string& source, std::vector<storage::NewJob> jobs,
      const storage::SweepAnnotations& annotations = {});
  // The store's UpdateSweep (tags and note).
  absl::StatusOr<storage::SweepRecord> UpdateSweep(const std::string& sweep_id,
                                                   const std::vector<std::string>& add_tags,
                                                   const std::vector<std::string>& remove_tags,
                                                   const std::optional<std::string>& note);
  // Deletes the sweep with everything of its jobs (storage::Store::DeleteSweep).
  // FailedPrecondition, nothing deleted, while any of its jobs is RUNNING (its worker still
  // writes to it): cancel the sweep first and wait for them to stop. NotFound for an unknown id.
  absl::StatusOr<storage::SweepDeletion> DeleteSweep(const std::string& sweep_id);

  // Claims the oldest queued job for `worker_id`, waiting up to `wait` (capped by
  // max_acquire_wait) for one to appear. nullopt if none came. Expired leases are reclaimed
  // first, so a dead worker's job is handed to the next caller. The lease token is 128-bit
  // random, as 32 lowercase hex digits. The job comes without its per-class counts (see
  // storage::JobDecision). InvalidArgument for an empty worker_id.
  // `abandoned` (optional) is polled while waiting: when it returns true (the caller went away,
  // the server is stopping) the wait ends with nullopt, so no job is claimed for nobody.
  absl::StatusOr<std::optional<storage::JobRecord>> Acquire(
      const std::string& worker_id, absl::Duration wait,
      const std::function<bool()>& abandoned = nullptr);

  // Lease-checked calls: FailedPrecondition for a stale lease (job_lifecycle.h CheckLease),
  // NotFound for an unknown job.
  // Renews the lease; returns true if the job's cancellation was requested.
  absl::StatusOr<bool> Heartbeat(const std::string& job_id, const std::string& token,
                                 int64_t progress_step);
  absl::Status SetDatasetInfo(const std::string& job_id, const std::string& token,
                              int64_t num_classes, const std::vector<int64_t>& train_counts,
                              const std::vector<int64_t>& test_counts, const std::string& metrics);
  // Stores one evaluation's metrics (idempotent) and renews the lease. Returns cancel_requested.
  absl::StatusOr<bool> ReportMetrics(const std::string& job_id, const std::string& token,
                                     int64_t step, const std::vector<storage::MetricRow>& rows);
  // Stores a checkpoint of the job at `step`, keeping the newest `keep` (storage::Store).
  absl::Status SaveCheckpoint(const std::string& job_id, const std::string& token, int64_t step,
                              const std::string& data, int keep);
  // The newest checkpoint of the job with step < before_step, or nullopt.
  absl::StatusOr<std::optional<storage::CheckpointRecord>> LoadCheckpoint(const std::string& job_id,
                                                                          const std::string& token,
                                                                          int64_t before_step);
  // Stores one piece of the job's kept model (storage::Store::SaveKeptModelChunk) and renews the
  // lease, leaving its progress as it is. Returns the job afterwards (kept_model set once the
  // upload finished; cancel_requested).
  absl::StatusOr<storage::JobRecord> SaveKeptModelChunk(const std::string& job_id,
                                                        const std::string& token,
                                                        const storage::KeptModelChunk& chunk);
  // The job, if its lease is `token` (for reads on behalf of a running job).
  absl::StatusOr<storage::JobRecord> LeasedJob(const std::string& job_id, const std::string& token);
  // Ends the attempt: `final_state` one of kSucceeded, kDiverged, kCancelled (InvalidArgument
  // otherwise, checked first).
  absl::Status Complete(const std::string& job_id, const std::string& token,
                        storage::JobState final_state, const std::string& message);
  // Ends an attempt that did not complete, as `outcome` says (job_lifecycle.h AttemptOutcome).
  // Returns the job's new state (kQueued or kFailed). FailedPrecondition also for a preemption
  // of a job whose cancellation was requested.
  absl::StatusOr<storage::JobState> Fail(const std::string& job_id, const std::string& token,
                                         const std::string& error, AttemptOutcome outcome);

  // Cancels one job, or every job of a sweep (job_lifecycle.h Cancel). NotFound for an unknown
  // id.
  absl::Status CancelJob(const std::string& job_id);
  absl::Status CancelSweep(const std::string& sweep_id);

  // Requeues (or fails, or cancels) jobs whose lease expired; returns their ids. Nothing expires
  // within the first lease after this scheduler started (a restarted coordinator's grace).
  absl::StatusOr<std::vector<std::string>> ExpireLeases();

  // Every change bumps version() (what Watch follows: states and progress); a change of a job's
  // state (submitted, leased, requeued, finished, cancelled: what an idle acquirer waits for)
  // also bumps state_version(). Heartbeats and metric batches bump only version(), so hundreds
  // of busy workers do not wake every idle long poll.
  uint64_t version() const;
  uint64_t state_version() const;
  // Block until version() (state_version()) != `seen` or `timeout` (real time) passes; return it.
  uint64_t AwaitChange(uint64_t seen, absl::Duration timeout) const;
  uint64_t AwaitStateChange(uint64_t seen, absl::Duration timeout) const;

  const SchedulerCounters& counters() const { return counters_; }

  // Records that `worker_id` was heard from now (every call of the scheduler's that names a
  // worker does this itself).
  void Seen(const std::string& worker_id);

 private:
  void Bump(bool state_change = true);
  static std::string NewLeaseToken();

  storage::Store* const store_;
  Clock* const clock_;
  const SchedulerOptions options_;
  // Construction time: no lease expires before started_ + lease, so that workers of a restarted
  // coordinator get one lease to reconnect (their expiry times were written before the outage).
  const absl::Time started_;

  SchedulerCounters counters_;
  mutable absl::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t state_version_ ABSL_GUARDED_BY(mu_) = 0;
  // When each worker was last heard from since this coordinator started (the store keeps the
  // registration time; a write per heartbeat would buy nothing a restart needs).
  std::map<std::string, absl::Time> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_SCHEDULER_H_
