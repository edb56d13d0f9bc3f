// Store: the coordinator's durable state (sweeps, jobs, leases, workers, metrics). The interface
// is what the scheduler programs against; sqlite_store.h is the implementation. The store knows
// no lifecycle rule: a job changes by its caller's decision (JobDecision; server/job_lifecycle.h).
#ifndef OPTBENCH_STORAGE_STORE_H_
#define OPTBENCH_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace optbench::storage {

// The states of a job. Terminal: kSucceeded, kFailed, kDiverged, kCancelled (a job's checkpoints
// are deleted when it reaches one). Which transitions happen when is server/job_lifecycle.h's.
enum class JobState {
  kQueued = 1,
  kRunning = 2,
  kSucceeded = 3,
  kFailed = 4,
  kDiverged = 5,
  kCancelled = 6
};
const char* JobStateName(JobState state);  // "queued", "running", ...
bool IsTerminal(JobState state);

// A model a job kept (issue 11: trainer.keep_model): its size and FNV-1a 64 checksum
// (common/fnv1a.h). Its bytes are opaque (the engine's kept-model format; never parsed here).
struct KeptModelInfo {
  int64_t size_bytes = 0;
  uint64_t checksum = 0;

  friend bool operator==(const KeptModelInfo& a, const KeptModelInfo& b) {
    return a.size_bytes == b.size_bytes && a.checksum == b.checksum;
  }
};

// One piece of a kept model, as models outgrow one message (and one comfortable row): bytes
// [offset, offset + data.size()) of a model of `total_bytes` bytes whose checksum is `checksum`.
struct KeptModelChunk {
  int64_t total_bytes = 0;
  int64_t offset = 0;
  uint64_t checksum = 0;
  std::string data;
};

struct SweepRecord {
  std::string id;
  std::string name;
  std::string source;  // The sweep file text as submitted (may be empty).
  absl::Time created_at;
  int64_t num_jobs = 0;
  std::vector<std::string> tags;  // Sorted, no duplicates.
  std::string note;
};

// What a researcher writes on a sweep to find it again: tags (non-empty strings; the server
// decides which characters) and a free-text note.
struct SweepAnnotations {
  std::vector<std::string> tags;  // Duplicates are stored once.
  std::string note;
};

// Which sweeps StoreReader::ListSweeps returns: those that meet every condition given, newest
// first.
struct SweepFilter {
  std::vector<std::string> tags;      // Every one of these tags.
  std::string name_contains;          // A substring of the name, ignoring ASCII case; empty = any.
  std::optional<JobState> has_state;  // At least one job in this state.
  // kActive: a job queued or running; kDone: every job terminal.
  enum class Progress { kAny, kActive, kDone };
  Progress progress = Progress::kAny;
  int64_t limit = 50;      // 1..1000.
  std::string page_token;  // Opaque; from the previous page's next_page_token.
};

struct SweepPage {
  std::vector<SweepRecord> sweeps;  // Newest first.
  std::string next_page_token;      // Empty when there are no more.
  int64_t total = 0;                // Sweeps matching the filter, on every page.
};

// What Store::DeleteSweep removed.
struct SweepDeletion {
  int64_t jobs = 0;
  int64_t metric_rows = 0;
  int64_t checkpoints = 0;
  int64_t kept_models = 0;
};

// What the caller supplies for each job of a new sweep.
struct NewJob {
  std::string spec;          // Opaque bytes (a serialized optbench.v1.JobSpec); never parsed here.
  std::string summary_json;  // Flat JSON object of the job's identifying settings (optimizer,
                             // lr, ..., seed) for display and CSV export.
  int64_t total_steps = 0;
  int32_t max_attempts = 3;  // >= 1.
};

struct JobRecord {
  std::string id;  // "<sweep_id>-<index>" ; stable, human-typeable.
  std::string sweep_id;
  int64_t index = 0;  // Position in the sweep, 0-based.
  std::string spec;
  std::string summary_json;
  JobState state = JobState::kQueued;
  int32_t attempt = 0;  // Number of claims so far.
  int32_t max_attempts = 3;
  std::string worker_id;    // Of the current or last claim; empty if never claimed.
  std::string lease_token;  // Current lease (RUNNING only), else empty.
  absl::Time lease_expires_at = absl::InfinitePast();
  int64_t progress_step = 0;
  int64_t total_steps = 0;
  bool cancel_requested = false;
  std::string error;  // Failure / divergence text for terminal states.
  absl::Time created_at;
  absl::Time started_at = absl::InfinitePast();  // Of the latest claim.
  absl::Time finished_at = absl::InfinitePast();
  // Set once by the worker at the start of a run (SetDatasetInfo); empty/0 until then.
  int64_t num_classes = 0;
  std::vector<int64_t> train_class_counts;
  std::vector<int64_t> test_class_counts;
  // The metrics the run declared: opaque bytes (a serialized optbench.v1.MetricDeclarations;
  // never parsed here); empty until then, or from a worker that declares none.
  std::string metrics;
  // The model the job kept, once its upload finished and was checked (Store::SaveKeptModelChunk);
  // unset while there is none.
  std::optional<KeptModelInfo> kept_model;
};

struct JobFilter {
  std::string sweep_id;           // Empty = any.
  std::optional<JobState> state;  // Unset = any.
  int64_t page_size = 100;        // 1..1000.
  std::string page_token;         // Opaque; from the previous page's next_page_token.
};

struct JobPage {
  std::vector<JobRecord> jobs;  // Ordered by (sweep creation, index).
  std::string next_page_token;  // Empty when there are no more.
};

// One stored metric: a scalar (values.size() == 1), a packed per-class vector, or one value per
// item of the run's own grouping (spec::MetricShape::kPerItem: a block of a quantize job).
// Key: (job_id, step, split, metric). Writing the same key again replaces the value.
struct MetricRow {
  std::string job_id;
  int64_t step = 0;
  std::string split;   // "train" | "test"
  std::string metric;  // "loss", "accuracy", "loss_sum", "correct", "grad_norm", ...
  std::vector<double> values;
  // Set by whoever checked the row against the run's declaration: a per-item vector, whose
  // length is its items' count, not the job's classes. Not stored (the declaration says it).
  bool per_item = false;
};

struct MetricQuery {
  std::vector<std::string> job_ids;  // Non-empty.
  std::string split;                 // Empty = any.
  std::vector<std::string> metrics;  // Empty = any.
  int64_t min_step = 0;
  int64_t max_step = INT64_MAX;
};

// A training checkpoint as a worker uploaded it: opaque bytes in the engine's format (which
// carries its own checksum; the store never parses them), taken after `step` optimizer steps.
struct CheckpointRecord {
  int64_t step = 0;
  std::string data;
};

struct WorkerRecord {
  std::string id;
  std::string name;  // Host name / user-supplied label.
  int32_t slots = 1;
  absl::Time last_seen;
};

// The fields of a job that its lifecycle changes, as a JobDecision returns them: all their new
// values (start from JobUpdate::Of(job) and change what the event changes). An update never
// changes the rest of a job (spec, max_attempts, dataset info).
struct JobUpdate {
  JobState state = JobState::kQueued;
  int32_t attempt = 0;
  std::string worker_id;
  std::string lease_token;
  absl::Time lease_expires_at = absl::InfinitePast();
  int64_t progress_step = 0;
  bool cancel_requested = false;
  std::string error;
  absl::Time started_at = absl::InfinitePast();
  absl::Time finished_at = absl::InfinitePast();

  // The values `job` has now: the update that changes nothing.
  static JobUpdate Of(const JobRecord& job);
  // Sets these values in `*job` (what the store writes, in memory).
  void ApplyTo(JobRecord* job) const;
  friend bool operator==(const JobUpdate& a, const JobUpdate& b);
  friend bool operator!=(const JobUpdate& a, const JobUpdate& b) { return !(a == b); }
};

// A caller's decision about one job, made on the job as stored inside the write transaction that
// applies it: the job's new lifecycle fields, or an error that aborts the write (nothing is
// written and the store returns the error). The store knows no lifecycle rule; the real decisions
// are in server/job_lifecycle.h. The record a decision sees carries every field except the
// per-class counts (train/test_class_counts are empty; num_classes is set): they can be large and
// no decision needs them. It runs under the store's write lock: it must be quick and must not
// call the store.
using JobDecision = std::function<absl::StatusOr<JobUpdate>(const JobRecord& job)>;
// A caller's verdict on a sweep's jobs (in index order, each as a decision sees it), made inside
// the write transaction that would change them: an error aborts the write.
using SweepCheck = std::function<absl::Status(const std::vector<JobRecord>& jobs)>;

// The jobs Store::UpdateJobs visits: those that meet every condition given, in claim order (sweep
// creation, then index).
struct JobSelection {
  std::string sweep_id;          // Empty = every sweep.
  std::vector<JobState> states;  // Empty = any state.
  // Set: only jobs holding a lease that expires strictly before this time.
  std::optional<absl::Time> lease_expires_before;
  int64_t limit = 0;  // The first `limit` matching jobs (>= 0); 0 = all of them.
};

// The read half of Store: what queries and the coordinator's read RPCs need. All methods are
// thread-safe.
class StoreReader {
 public:
  virtual ~StoreReader() = default;

  virtual absl::StatusOr<SweepRecord> GetSweep(const std::string& sweep_id) = 0;  // NotFound.
  // The most recently created sweep named `name`; NotFound if none is.
  virtual absl::StatusOr<SweepRecord> FindSweepByName(const std::string& name) = 0;
  // The sweeps `filter` selects, a page at a time, newest first. InvalidArgument for a limit
  // outside 1..1000, an empty tag or a malformed page token.
  virtual absl::StatusOr<SweepPage> ListSweeps(const SweepFilter& filter) = 0;
  // The newest `limit` sweeps (1..1000), unfiltered.
  absl::StatusOr<std::vector<SweepRecord>> ListSweeps(int64_t limit);

  virtual absl::StatusOr<JobRecord> GetJob(const std::string& job_id) = 0;  // NotFound.
  virtual absl::StatusOr<JobPage> ListJobs(const JobFilter& filter) = 0;
  // Number of jobs per state, over all sweeps or one (sweep_id non-empty).
  virtual absl::StatusOr<std::vector<std::pair<JobState, int64_t>>> CountJobs(
      const std::string& sweep_id) = 0;

  virtual absl::StatusOr<std::vector<MetricRow>> ReadMetrics(const MetricQuery& query) = 0;

  // The piece of `job_id`'s kept model that starts at byte `offset`, as it was uploaded: read
  // the model from offset 0, each next piece at the end of the last, up to total_bytes.
  // NotFound when the job has no kept model (none, or its upload has not finished);
  // InvalidArgument when no piece starts at `offset`.
  virtual absl::StatusOr<KeptModelChunk> ReadKeptModelChunk(const std::string& job_id,
                                                            int64_t offset) = 0;

  virtual absl::StatusOr<std::vector<WorkerRecord>> ListWorkers() = 0;
};

// Jobs change only by JobDecisions: UpdateJob and UpdateJobs apply one to jobs, and the writes a
// running job's worker makes (metrics, dataset info, checkpoints) take one too (in practice the
// lease check, or a lease renewal, of server/job_lifecycle.h), applied in the same transaction
// as the data: a refused decision writes nothing. A decision that changes nothing writes nothing.
// All methods are thread-safe. Errors from the database itself are Internal or Unavailable
// (busy), DataLoss for a corrupt file; NotFound for an unknown job.
class Store : public StoreReader {
 public:
  // Creates a sweep and all its jobs in one transaction (all or nothing). Jobs start QUEUED.
  // InvalidArgument if `jobs` is empty. Returns the sweep as stored (with its new id).
  virtual absl::StatusOr<SweepRecord> CreateSweep(const std::string& name,
                                                  const std::string& source,
                                                  const SweepAnnotations& annotations,
                                                  const std::vector<NewJob>& jobs,
                                                  absl::Time now) = 0;
  // The same, with neither tags nor a note.
  absl::StatusOr<SweepRecord> CreateSweep(const std::string& name, const std::string& source,
                                          const std::vector<NewJob>& jobs, absl::Time now);

  // Adds and removes tags (removing one the sweep lacks, or adding one it has, changes nothing)
  // and, when `note` is set, replaces the note, in one transaction. Returns the sweep afterwards.
  // NotFound for an unknown sweep; InvalidArgument for an empty tag.
  virtual absl::StatusOr<SweepRecord> UpdateSweep(const std::string& sweep_id,
                                                  const std::vector<std::string>& add_tags,
                                                  const std::vector<std::string>& remove_tags,
                                                  const std::optional<std::string>& note) = 0;

  // Removes the sweep with its jobs, their metrics, checkpoints and kept models, and its tags, in
  // one transaction, after `check` passed its jobs: a refusal deletes nothing and is returned.
  // Other sweeps are untouched. NotFound for an unknown sweep.
  virtual absl::StatusOr<SweepDeletion> DeleteSweep(const std::string& sweep_id,
                                                    const SweepCheck& check) = 0;

  // Applies `decide` to the job in one write transaction. Returns the job as it is afterwards
  // (without per-class counts, as a decision sees it), or the decision's error.
  virtual absl::StatusOr<JobRecord> UpdateJob(const std::string& job_id,
                                              const JobDecision& decide) = 0;
  // Applies `decide` to every selected job, all in one write transaction (the first refusal rolls
  // back every change and is returned). Returns the jobs it changed, as they are afterwards, in
  // claim order. NotFound for an unknown selection.sweep_id.
  virtual absl::StatusOr<std::vector<JobRecord>> UpdateJobs(const JobSelection& selection,
                                                            const JobDecision& decide) = 0;

  // Upserts rows (all for `job_id`) and applies `decide` in one transaction: both or neither.
  // Once the job's num_classes is set (SetDatasetInfo), a row of more than one value must have
  // exactly num_classes (InvalidArgument, nothing written). Returns the job as UpdateJob does.
  virtual absl::StatusOr<JobRecord> AppendMetrics(const std::string& job_id,
                                                  const std::vector<MetricRow>& rows,
                                                  const JobDecision& decide) = 0;
  // Records what a run reports: its class count, the targets per class of each split (empty or
  // num_classes entries) and its declared metrics (opaque bytes), in one transaction with
  // `decide`.
  virtual absl::Status SetDatasetInfo(const std::string& job_id, int64_t num_classes,
                                      const std::vector<int64_t>& train_counts,
                                      const std::vector<int64_t>& test_counts,
                                      const std::string& metrics, const JobDecision& decide) = 0;

  // Checkpoints. SaveCheckpoint stores `data` as the job's checkpoint at `step` (replacing one at
  // the same step) and drops all but the newest `keep` (>= 1) of the job, in one transaction with
  // `decide`. LoadCheckpoint returns the newest checkpoint with step < before_step, or nullopt,
  // after `decide` allowed it. A job's checkpoints are deleted when it reaches a terminal state.
  virtual absl::Status SaveCheckpoint(const std::string& job_id, int64_t step,
                                      const std::string& data, int keep,
                                      const JobDecision& decide) = 0;
  virtual absl::StatusOr<std::optional<CheckpointRecord>> LoadCheckpoint(
      const std::string& job_id, int64_t before_step, const JobDecision& decide) = 0;

  // Kept models (issue 11). A job's worker uploads its model in pieces, in order, each stored in
  // one transaction with `decide`. A piece at offset 0 starts an upload, dropping whatever the
  // job had (an earlier attempt's upload, finished or not); any other piece continues it: its
  // total and checksum those of the upload, its offset at most where the stored pieces end (a
  // piece sent again after a reconnect replaces the pieces from its offset on). The piece that
  // reaches total_bytes finishes the upload: the store checks that the pieces hold total_bytes
  // bytes whose FNV-1a 64 is the checksum, and from then on the job has kept_model. Returns the
  // job as it is afterwards, as UpdateJob does.
  // A kept model goes when its job does: the job's row (a deleted sweep's jobs), and whenever
  // the job changes to a state other than RUNNING and SUCCEEDED (requeued for another attempt,
  // failed, diverged, cancelled); an unfinished upload also when the job succeeds.
  virtual absl::StatusOr<JobRecord> SaveKeptModelChunk(const std::string& job_id,
                                                       const KeptModelChunk& chunk,
                                                       const JobDecision& decide) = 0;

  virtual absl::Status UpsertWorker(const WorkerRecord& worker) = 0;
};

}  // namespace optbench::storage

#endif  // OPTBENCH_STORAGE_STORE_H_
