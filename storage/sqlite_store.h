// SqliteStore: the Store implementation over one SQLite file (WAL mode), with versioned schema
// migrations. The coordinator owns the only writable instance; `optbench query --db FILE` opens
// the same file read-only while the coordinator runs.
//
//   absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open("optbench.db");
//   if (!store.ok()) return store.status();
//   auto sweep = (*store)->CreateSweep("adam-vs-sgd", yaml_text, jobs, clock->Now());
#ifndef OPTBENCH_STORAGE_SQLITE_STORE_H_
#define OPTBENCH_STORAGE_SQLITE_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace optbench::storage {

namespace internal {
class Connection;
}  // namespace internal

struct SqliteStoreOptions {
  // Opens the file with SQLITE_OPEN_READONLY: never creates or migrates it (the file must exist at
  // the latest schema version), and every write method returns FailedPrecondition ("store is
  // read-only"). Safe to use while another process writes the file.
  bool read_only = false;
  // How long a statement waits for a lock held by another connection or process before failing
  // with Unavailable. >= 0.
  absl::Duration busy_timeout = absl::Seconds(5);
  // Size of the pool of read connections, 0..64. Reads on pooled connections run in parallel with
  // each other and with the writer (WAL). 0: reads share the writer connection (and its lock).
  // Forced to 0 for ":memory:" (each connection to ":memory:" is a separate database) and to at
  // least 1 for read_only.
  int read_connections = 4;
  // Called after each write transaction (committed or rolled back) with the time it held the
  // writer: BEGIN IMMEDIATE to COMMIT. For the coordinator's latency histogram; may be empty.
  std::function<void(absl::Duration)> on_write;
};

// Thread-safety: all methods may be called from any thread. Writes go through one writer
// connection, serialized by a mutex, each in one BEGIN IMMEDIATE transaction (so they are also
// atomic against other processes writing the same file). Reads take a connection from the pool and
// run in one read transaction: each call sees a consistent snapshot of committed data.
//
// Durability: WAL journal with synchronous=NORMAL. A committed write survives the process being
// killed (kill -9), since the WAL is in the OS page cache; only an OS crash or power loss can lose
// the last commits (never corrupt the file).
//
// Storage details that callers may rely on: times are kept at microsecond resolution (finer parts
// truncated), absl::InfinitePast() round-trips exactly; metric values round-trip bit-exactly (NaN
// payloads, infinities, denormals, -0.0).
//
// Beyond store.h: a job decision runs on the writer connection under its lock, after the job's row
// was read in the same BEGIN IMMEDIATE transaction that writes the decision, so no other
// connection or process can change the job in between (two claimers never take the same job).
class SqliteStore final : public Store {
 public:
  // Opens (creating it unless read_only) the database at `path`, or a private in-memory database
  // for ":memory:", and migrates it to the latest schema version.
  // Errors: InvalidArgument for bad options or an empty path (or ":memory:" with read_only);
  // NotFound / PermissionDenied if the file cannot be opened (PermissionDenied also for a
  // non-writable file opened writable); DataLoss if the file is not a SQLite database;
  // FailedPrecondition if its schema version is newer than this binary's (or, read-only, older),
  // or if it is another application's database.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const SqliteStoreOptions& options = {});

  // The schema version this binary creates and reads.
  static int LatestSchemaVersion();

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  const std::string& path() const { return path_; }
  bool read_only() const { return options_.read_only; }

  // Sweep ids are "s-" + 8 random lowercase hex digits (unique in the file). InvalidArgument also
  // for a job with max_attempts < 1 or total_steps < 0 (naming its index).
  // InvalidArgument also for an empty tag.
  using Store::CreateSweep;
  absl::StatusOr<SweepRecord> CreateSweep(const std::string& name, const std::string& source,
                                          const SweepAnnotations& annotations,
                                          const std::vector<NewJob>& jobs, absl::Time now) override;
  absl::StatusOr<SweepRecord> GetSweep(const std::string& sweep_id) override;
  absl::StatusOr<SweepRecord> FindSweepByName(const std::string& name) override;
  using Store::ListSweeps;
  absl::StatusOr<SweepPage> ListSweeps(const SweepFilter& filter) override;
  absl::StatusOr<SweepRecord> UpdateSweep(const std::string& sweep_id,
                                          const std::vector<std::string>& add_tags,
                                          const std::vector<std::string>& remove_tags,
                                          const std::optional<std::string>& note) override;
  absl::StatusOr<SweepDeletion> DeleteSweep(const std::string& sweep_id,
                                            const SweepCheck& check) override;

  absl::StatusOr<JobRecord> GetJob(const std::string& job_id) override;
  // InvalidArgument for page_size outside 1..1000 or a malformed page token; NotFound for an
  // unknown sweep_id.
  absl::StatusOr<JobPage> ListJobs(const JobFilter& filter) override;
  // All six states in enum order, zero counts included. NotFound for an unknown sweep_id.
  absl::StatusOr<std::vector<std::pair<JobState, int64_t>>> CountJobs(
      const std::string& sweep_id) override;

  absl::StatusOr<JobRecord> UpdateJob(const std::string& job_id,
                                      const JobDecision& decide) override;
  // InvalidArgument for selection.limit < 0.
  absl::StatusOr<std::vector<JobRecord>> UpdateJobs(const JobSelection& selection,
                                                    const JobDecision& decide) override;
  // InvalidArgument for a row of another job, an empty split or metric, no values, or step < 0.
  absl::StatusOr<JobRecord> AppendMetrics(const std::string& job_id,
                                          const std::vector<MetricRow>& rows,
                                          const JobDecision& decide) override;
  // InvalidArgument unless num_classes >= 1, each count vector is empty or num_classes long, and
  // counts are >= 0. Writing again (a retried attempt) replaces the values.
  absl::Status SetDatasetInfo(const std::string& job_id, int64_t num_classes,
                              const std::vector<int64_t>& train_counts,
                              const std::vector<int64_t>& test_counts, const std::string& metrics,
                              const JobDecision& decide) override;

  // InvalidArgument for no job ids or min_step > max_step. Rows come ordered by job (in the order
  // of query.job_ids, duplicates ignored), then step, split, metric. Unknown job ids have no rows.
  // DataLoss for a stored vector whose size is not a multiple of 8 bytes.
  absl::StatusOr<std::vector<MetricRow>> ReadMetrics(const MetricQuery& query) override;

  // InvalidArgument for step < 1 (step 0 is the start: nothing to keep), empty data or keep < 1.
  absl::Status SaveCheckpoint(const std::string& job_id, int64_t step, const std::string& data,
                              int keep, const JobDecision& decide) override;
  // Runs on the writer connection, like the writes: the decision (a lease check) and the read see
  // the same state of the job.
  absl::StatusOr<std::optional<CheckpointRecord>> LoadCheckpoint(
      const std::string& job_id, int64_t before_step, const JobDecision& decide) override;

  // InvalidArgument, nothing written, for a piece that is not one of a model (total_bytes < 1,
  // offset < 0, no data, bytes past total_bytes) or that does not continue the job's upload
  // (none started, another total or checksum, an offset past the bytes it holds), naming what
  // the upload holds. DataLoss when the finishing piece makes the pieces disagree with the size
  // or checksum: nothing of that piece is written and the upload stays unfinished (a piece at
  // offset 0 starts it over).
  absl::StatusOr<JobRecord> SaveKeptModelChunk(const std::string& job_id,
                                               const KeptModelChunk& chunk,
                                               const JobDecision& decide) override;
  absl::StatusOr<KeptModelChunk> ReadKeptModelChunk(const std::string& job_id,
                                                    int64_t offset) override;

  // InvalidArgument for an empty id or slots < 0. Ordered by id.
  absl::Status UpsertWorker(const WorkerRecord& worker) override;
  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers() override;

 private:
  using Body = absl::FunctionRef<absl::Status(internal::Connection&)>;

  SqliteStore(std::string path, const SqliteStoreOptions& options);

  // Runs `body` in one read transaction, on a pooled connection or (no pool) the writer's.
  absl::Status Read(Body body);
  // Runs `body` in one BEGIN IMMEDIATE transaction on the writer connection; commits if it
  // returns OK, else rolls back. FailedPrecondition for a read-only store.
  absl::Status Write(Body body);
  absl::Status ReadWith(internal::Connection& conn, Body body);

  // Blocks until a pooled connection is free.
  internal::Connection* AcquireReader();
  void ReleaseReader(internal::Connection* conn);

  // Random ids; only called inside a Write() body, so under writer_mu_.
  std::string NewSweepId();

  const std::string path_;
  const SqliteStoreOptions options_;

  // std::mutex rather than absl::Mutex: Debian's Abseil is built without ThreadSanitizer
  // annotations, so TSan cannot see absl::Mutex and reports false races; it does see pthreads.
  // The ABSL_GUARDED_BY annotations still document the locking.
  std::mutex writer_mu_;
  // Null for a read-only store.
  std::unique_ptr<internal::Connection> writer_ ABSL_GUARDED_BY(writer_mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(writer_mu_);

  // The pool: `readers_` owns the connections and is fixed after Open; `free_readers_` lists
  // those not in use.
  std::vector<std::unique_ptr<internal::Connection>> readers_;
  std::mutex pool_mu_;
  std::condition_variable reader_freed_;  // Signalled when a connection returns to the pool.
  std::vector<internal::Connection*> free_readers_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace optbench::storage

#endif  // OPTBENCH_STORAGE_SQLITE_STORE_H_
