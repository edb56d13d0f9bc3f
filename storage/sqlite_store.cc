#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/random/distributions.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/fnv1a.h"
#include "common/status_macros.h"
#include "storage/sqlite_connection.h"
#include "storage/sqlite_schema.h"

namespace optbench::storage {
namespace {

using internal::Connection;
using internal::Statement;
using internal::Transaction;

constexpr int64_t kMaxPageSize = 1000;
constexpr int kMaxReadConnections = 64;
constexpr char kMemoryPath[] = ":memory:";

// Per-class vectors are stored as packed little-endian 8-byte values, so the file is the same on
// any host. Doubles keep their exact bit pattern (NaN payloads included). On a little-endian host
// that layout is the in-memory one and a vector is copied whole (a query reads millions of them).
#ifdef ABSL_IS_LITTLE_ENDIAN
constexpr bool kLittleEndian = true;
#else
constexpr bool kLittleEndian = false;
#endif

std::string PackU64(const uint64_t* values, size_t n) {
  std::string out(n * 8, '\0');
  if (kLittleEndian) {
    if (n > 0) std::memcpy(out.data(), values, n * 8);
    return out;
  }
  for (size_t i = 0; i < n; ++i) {
    for (int b = 0; b < 8; ++b) out[i * 8 + b] = static_cast<char>((values[i] >> (8 * b)) & 0xff);
  }
  return out;
}

template <typename T>
std::string Pack(const std::vector<T>& values) {
  static_assert(sizeof(T) == 8);
  if (kLittleEndian) {
    std::string out(values.size() * 8, '\0');
    if (!values.empty()) std::memcpy(out.data(), values.data(), values.size() * 8);
    return out;
  }
  std::vector<uint64_t> bits(values.size());
  if (!values.empty()) std::memcpy(bits.data(), values.data(), values.size() * 8);
  return PackU64(bits.data(), bits.size());
}

// `what` names the blob in the DataLoss error (built only on error).
template <typename T>
absl::StatusOr<std::vector<T>> Unpack(absl::string_view bytes,
                                      absl::FunctionRef<std::string()> what) {
  static_assert(sizeof(T) == 8);
  if (bytes.size() % 8 != 0) {
    return absl::DataLossError(
        absl::StrFormat("%s has %d bytes, not a multiple of 8", what(), bytes.size()));
  }
  std::vector<T> values(bytes.size() / 8);
  if (kLittleEndian) {
    if (!values.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t bits = 0;
    for (int b = 0; b < 8; ++b) {
      bits |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i * 8 + b])) << (8 * b);
    }
    std::memcpy(&values[i], &bits, 8);
  }
  return values;
}

// Job columns, in the order ReadJob expects; sweeps are joined for the sweep's public id. The
// per-class counts can be large (8 bytes per class each), and so can the declared metrics, so the
// reads behind a job decision select empty blobs in their place.
enum class ClassCounts { kRead, kSkip };

std::string SelectJob(ClassCounts counts) {
  return absl::StrCat(
      "SELECT j.id, s.id, j.idx, j.spec, j.summary_json, j.state, j.attempt, j.max_attempts, "
      "j.worker_id, j.lease_token, j.lease_expires_at, j.progress_step, j.total_steps, "
      "j.cancel_requested, j.error, j.created_at, j.started_at, j.finished_at, j.num_classes, ",
      counts == ClassCounts::kRead ? "j.train_class_counts, j.test_class_counts" : "x'', x''",
      ", j.sweep_seq, ", counts == ClassCounts::kRead ? "j.metrics" : "x''",
      ", k.size_bytes, k.checksum FROM jobs j JOIN sweeps s ON s.seq = j.sweep_seq "
      "LEFT JOIN kept_models k ON k.job_id = j.id AND k.complete = 1 ");
}
constexpr int kSweepSeqColumn = 21;

absl::StatusOr<JobState> StateFromInt(int64_t value, absl::string_view job_id) {
  if (value < static_cast<int>(JobState::kQueued) ||
      value > static_cast<int>(JobState::kCancelled)) {
    return absl::DataLossError(
        absl::StrFormat("job %s has invalid stored state %d", job_id, value));
  }
  return static_cast<JobState>(value);
}

absl::StatusOr<JobRecord> ReadJob(const Statement& stmt) {
  JobRecord job;
  job.id = stmt.ColumnText(0);
  job.sweep_id = stmt.ColumnText(1);
  job.index = stmt.ColumnInt64(2);
  job.spec = stmt.ColumnBlob(3);
  job.summary_json = stmt.ColumnText(4);
  OPTBENCH_ASSIGN_OR_RETURN(job.state, StateFromInt(stmt.ColumnInt64(5), job.id));
  job.attempt = static_cast<int32_t>(stmt.ColumnInt64(6));
  job.max_attempts = static_cast<int32_t>(stmt.ColumnInt64(7));
  job.worker_id = stmt.ColumnText(8);
  job.lease_token = stmt.ColumnText(9);
  job.lease_expires_at = stmt.ColumnTime(10);
  job.progress_step = stmt.ColumnInt64(11);
  job.total_steps = stmt.ColumnInt64(12);
  job.cancel_requested = stmt.ColumnInt64(13) != 0;
  job.error = stmt.ColumnText(14);
  job.created_at = stmt.ColumnTime(15);
  job.started_at = stmt.ColumnTime(16);
  job.finished_at = stmt.ColumnTime(17);
  job.num_classes = stmt.ColumnInt64(18);
  OPTBENCH_ASSIGN_OR_RETURN(job.train_class_counts, Unpack<int64_t>(stmt.ColumnBlobView(19), [&] {
                              return absl::StrCat("train class counts of job ", job.id);
                            }));
  OPTBENCH_ASSIGN_OR_RETURN(job.test_class_counts, Unpack<int64_t>(stmt.ColumnBlobView(20), [&] {
                              return absl::StrCat("test class counts of job ", job.id);
                            }));
  job.metrics = stmt.ColumnBlob(22);
  if (!stmt.IsNull(23)) {
    job.kept_model =
        KeptModelInfo{stmt.ColumnInt64(23), static_cast<uint64_t>(stmt.ColumnInt64(24))};
  }
  return job;
}

absl::StatusOr<JobRecord> LoadJob(Connection& conn, const std::string& job_id,
                                  ClassCounts counts = ClassCounts::kRead) {
  OPTBENCH_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare(absl::StrCat(SelectJob(counts), "WHERE j.id = ?1")));
  stmt.BindText(1, job_id);
  OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrFormat("job %s not found", job_id));
  return ReadJob(stmt);
}

struct StoredSweep {
  int64_t seq = 0;
  SweepRecord record;
};

// Tags come joined by the unit separator (char 31), which no tag holds (the server allows
// letters, digits and a few punctuation marks).
constexpr char kSelectSweep[] =
    "SELECT seq, id, name, source, created_at, num_jobs, note, "
    "(SELECT group_concat(tag, char(31)) FROM sweep_tags WHERE sweep_tags.sweep_seq = sweeps.seq) "
    "FROM sweeps ";

StoredSweep ReadSweep(const Statement& stmt) {
  StoredSweep sweep;
  sweep.seq = stmt.ColumnInt64(0);
  sweep.record.id = stmt.ColumnText(1);
  sweep.record.name = stmt.ColumnText(2);
  sweep.record.source = stmt.ColumnText(3);
  sweep.record.created_at = stmt.ColumnTime(4);
  sweep.record.num_jobs = stmt.ColumnInt64(5);
  sweep.record.note = stmt.ColumnText(6);
  if (!stmt.IsNull(7)) {
    sweep.record.tags = absl::StrSplit(stmt.ColumnText(7), '\x1f', absl::SkipEmpty());
    std::sort(sweep.record.tags.begin(), sweep.record.tags.end());
  }
  return sweep;
}

absl::Status CheckTags(const std::vector<std::string>& tags) {
  for (const std::string& tag : tags) {
    if (tag.empty()) return absl::InvalidArgumentError("a sweep tag is empty");
  }
  return absl::OkStatus();
}

// Adds `tags` to the sweep `seq` (those it has already stay once), inside the caller's write.
absl::Status InsertTags(Connection& conn, int64_t seq, const std::vector<std::string>& tags) {
  if (tags.empty()) return absl::OkStatus();
  OPTBENCH_ASSIGN_OR_RETURN(
      Statement insert,
      conn.Prepare("INSERT OR IGNORE INTO sweep_tags (sweep_seq, tag) VALUES (?1, ?2)"));
  for (const std::string& tag : tags) {
    insert.BindInt64(1, seq);
    insert.BindText(2, tag);
    OPTBENCH_RETURN_IF_ERROR(insert.Run());
    OPTBENCH_RETURN_IF_ERROR(insert.Reset());
  }
  return absl::OkStatus();
}

// Sweep page tokens encode the seq of the last sweep returned; opaque to callers.
std::string EncodeSweepPageToken(int64_t seq) {
  return absl::WebSafeBase64Escape(absl::StrCat("s1:", seq));
}

absl::Status DecodeSweepPageToken(const std::string& token, int64_t* seq) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, ':');
  if (parts.size() != 2 || parts[0] != "s1" || !absl::SimpleAtoi(parts[1], seq)) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid page token '%s'", token));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredSweep> LoadSweep(Connection& conn, const std::string& sweep_id) {
  OPTBENCH_ASSIGN_OR_RETURN(Statement stmt,
                            conn.Prepare(absl::StrCat(kSelectSweep, "WHERE id = ?1")));
  stmt.BindText(1, sweep_id);
  OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::NotFoundError(absl::StrFormat("sweep %s not found", sweep_id));
  return ReadSweep(stmt);
}

// Asks `decide` about `*job` (as stored, without class counts) and writes its answer if it changes
// anything, then reads the job back into *job (so its times carry the stored resolution). Returns
// whether it wrote. Runs inside the caller's write transaction: the decision and its write are
// one atomic step.
absl::StatusOr<bool> ApplyDecision(Connection& conn, JobRecord* job, const JobDecision& decide) {
  OPTBENCH_ASSIGN_OR_RETURN(const JobUpdate update, decide(*job));
  if (update == JobUpdate::Of(*job)) return false;
  OPTBENCH_ASSIGN_OR_RETURN(
      Statement write,
      conn.Prepare("UPDATE jobs SET state = ?1, attempt = ?2, worker_id = ?3, lease_token = ?4, "
                   "lease_expires_at = ?5, progress_step = ?6, cancel_requested = ?7, error = ?8, "
                   "started_at = ?9, finished_at = ?10 WHERE id = ?11"));
  write.BindInt64(1, static_cast<int64_t>(update.state));
  write.BindInt64(2, update.attempt);
  write.BindText(3, update.worker_id);
  write.BindText(4, update.lease_token);
  write.BindTime(5, update.lease_expires_at);
  write.BindInt64(6, update.progress_step);
  write.BindInt64(7, update.cancel_requested ? 1 : 0);
  write.BindText(8, update.error);
  write.BindTime(9, update.started_at);
  write.BindTime(10, update.finished_at);
  write.BindText(11, job->id);
  OPTBENCH_RETURN_IF_ERROR(write.Run());
  OPTBENCH_ASSIGN_OR_RETURN(*job, LoadJob(conn, job->id, ClassCounts::kSkip));
  return true;
}

// ApplyDecision for the job with id `job_id` (NotFound); returns the job as it is afterwards.
absl::StatusOr<JobRecord> DecideAbout(Connection& conn, const std::string& job_id,
                                      const JobDecision& decide) {
  OPTBENCH_ASSIGN_OR_RETURN(JobRecord job, LoadJob(conn, job_id, ClassCounts::kSkip));
  OPTBENCH_RETURN_IF_ERROR(ApplyDecision(conn, &job, decide).status());
  return job;
}

// Page tokens encode the (sweep seq, index) of the last job returned; opaque to callers.
std::string EncodePageToken(int64_t sweep_seq, int64_t index) {
  return absl::WebSafeBase64Escape(absl::StrCat("j1:", sweep_seq, ":", index));
}

absl::Status DecodePageToken(const std::string& token, int64_t* sweep_seq, int64_t* index) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, ':');
  if (parts.size() != 3 || parts[0] != "j1" || !absl::SimpleAtoi(parts[1], sweep_seq) ||
      !absl::SimpleAtoi(parts[2], index)) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid page token '%s'", token));
  }
  return absl::OkStatus();
}

absl::Status ValidateRow(const std::string& job_id, const MetricRow& row, size_t i) {
  if (row.job_id != job_id) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "metric row %d is for job '%s', expected only rows for job %s", i, row.job_id, job_id));
  }
  if (row.split.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("metric row %d has an empty split", i));
  }
  if (row.metric.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("metric row %d has an empty metric name", i));
  }
  if (row.values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric row %d (%s/%s) has no values", i, row.split, row.metric));
  }
  if (row.step < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metric row %d has step %d; steps are >= 0", i, row.step));
  }
  return absl::OkStatus();
}

absl::Status ValidateCounts(const std::vector<int64_t>& counts, int64_t num_classes,
                            absl::string_view split) {
  if (!counts.empty() && static_cast<int64_t>(counts.size()) != num_classes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s class counts have %d entries, expected 0 or num_classes = %d", split,
                        counts.size(), num_classes));
  }
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s class count %d is negative: %d", split, c, counts[c]));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Opening

SqliteStore::SqliteStore(std::string path, const SqliteStoreOptions& options)
    : path_(std::move(path)), options_(options) {}

SqliteStore::~SqliteStore() {
  // Readers first: the last connection to close checkpoints the WAL into the database file.
  readers_.clear();
  std::lock_guard<std::mutex> lock(writer_mu_);
  writer_.reset();
}

int SqliteStore::LatestSchemaVersion() { return internal::LatestSchemaVersion(); }

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const SqliteStoreOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("database path is empty");
  if (options.read_connections < 0 || options.read_connections > kMaxReadConnections) {
    return absl::InvalidArgumentError(absl::StrFormat("read_connections must be in 0..%d, got %d",
                                                      kMaxReadConnections,
                                                      options.read_connections));
  }
  if (options.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("busy_timeout must be >= 0, got ",
                                                   absl::FormatDuration(options.busy_timeout)));
  }
  const bool in_memory = path == kMemoryPath;
  if (in_memory && options.read_only) {
    return absl::InvalidArgumentError("a read-only store cannot open ':memory:'");
  }

  std::unique_ptr<SqliteStore> store(new SqliteStore(path, options));
  int num_readers = options.read_connections;
  if (!options.read_only) {
    OPTBENCH_ASSIGN_OR_RETURN(
        std::unique_ptr<Connection> writer,
        Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options.busy_timeout));
    // Reading the header first turns "not a database" into a clear error before any PRAGMA write.
    OPTBENCH_RETURN_IF_ERROR(internal::CheckSchema(*writer, /*require_latest=*/false));
    if (writer->IsReadOnly()) {
      return absl::PermissionDeniedError(
          absl::StrFormat("database file %s is not writable (open it read-only instead)", path));
    }
    // In WAL mode readers never block the writer nor the writer the readers; with
    // synchronous=NORMAL a commit is durable against a process crash (kill -9): it is in the WAL,
    // which the OS holds even if the process dies. Only an OS crash or power loss may drop the
    // most recent commits, and never corrupts the file.
    OPTBENCH_ASSIGN_OR_RETURN(std::string mode, writer->QueryText("PRAGMA journal_mode = WAL"));
    if (mode != "wal" && !(in_memory && mode == "memory")) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "cannot use wal journal mode on %s (got '%s'); is it on a network file system?", path,
          mode));
    }
    OPTBENCH_RETURN_IF_ERROR(writer->Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"));
    OPTBENCH_RETURN_IF_ERROR(internal::Migrate(*writer));
    std::lock_guard<std::mutex> lock(store->writer_mu_);
    store->writer_ = std::move(writer);
    if (in_memory) num_readers = 0;
  } else {
    num_readers = std::max(num_readers, 1);
  }

  for (int i = 0; i < num_readers; ++i) {
    OPTBENCH_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                              Connection::Open(path, SQLITE_OPEN_READONLY, options.busy_timeout));
    if (i == 0 && options.read_only) {
      OPTBENCH_RETURN_IF_ERROR(internal::CheckSchema(*reader, /*require_latest=*/true));
    }
    // Metric queries read tens of megabytes of overflow pages; mapped, they are not first copied
    // through read() (measured: the grouped 5,000 x 1,000 query 42 -> 32-36 ms).
    if (!in_memory) OPTBENCH_RETURN_IF_ERROR(reader->Exec("PRAGMA mmap_size = 1073741824"));
    store->readers_.push_back(std::move(reader));
  }
  std::lock_guard<std::mutex> lock(store->pool_mu_);
  for (auto& reader : store->readers_) store->free_readers_.push_back(reader.get());
  return store;
}

// ---------------------------------------------------------------------------------------------
// Transactions and the connection pool

Connection* SqliteStore::AcquireReader() {
  std::unique_lock<std::mutex> lock(pool_mu_);
  reader_freed_.wait(lock, [this] { return !free_readers_.empty(); });
  Connection* conn = free_readers_.back();
  free_readers_.pop_back();
  return conn;
}

void SqliteStore::ReleaseReader(Connection* conn) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    free_readers_.push_back(conn);
  }
  reader_freed_.notify_one();
}

absl::Status SqliteStore::ReadWith(Connection& conn, Body body) {
  OPTBENCH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(conn, Transaction::Mode::kRead));
  OPTBENCH_RETURN_IF_ERROR(body(conn));
  return txn.Commit();
}

absl::Status SqliteStore::Read(Body body) {
  if (readers_.empty()) {
    std::lock_guard<std::mutex> lock(writer_mu_);
    return ReadWith(*writer_, body);
  }
  Connection* conn = AcquireReader();
  absl::Status status = ReadWith(*conn, body);
  ReleaseReader(conn);
  return status;
}

absl::Status SqliteStore::Write(Body body) {
  if (options_.read_only) {
    return absl::FailedPreconditionError(absl::StrCat("store is read-only: ", path_));
  }
  std::lock_guard<std::mutex> lock(writer_mu_);
  // A steady clock: a wall-clock step would make a negative duration.
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = [&]() -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(Transaction txn,
                              Transaction::Begin(*writer_, Transaction::Mode::kWrite));
    OPTBENCH_RETURN_IF_ERROR(body(*writer_));
    return txn.Commit();
  }();
  if (options_.on_write) {
    options_.on_write(absl::FromChrono(std::chrono::steady_clock::now() - start));
  }
  return status;
}

std::string SqliteStore::NewSweepId() {
  return absl::StrFormat("s-%08x", absl::Uniform<uint32_t>(bitgen_));
}

// ---------------------------------------------------------------------------------------------
// Sweeps

absl::StatusOr<SweepRecord> SqliteStore::CreateSweep(const std::string& name,
                                                     const std::string& source,
                                                     const SweepAnnotations& annotations,
                                                     const std::vector<NewJob>& jobs,
                                                     absl::Time now) {
  OPTBENCH_RETURN_IF_ERROR(CheckTags(annotations.tags));
  if (jobs.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("sweep '%s' has no jobs", name));
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].max_attempts < 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "job %d of sweep '%s' has max_attempts %d; must be >= 1", i, name, jobs[i].max_attempts));
    }
    if (jobs[i].total_steps < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "job %d of sweep '%s' has total_steps %d; must be >= 0", i, name, jobs[i].total_steps));
    }
  }
  SweepRecord sweep;
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    // 2^32 ids: a collision is rare but possible in a long-lived file, so check inside the
    // transaction that also inserts.
    OPTBENCH_ASSIGN_OR_RETURN(Statement exists, conn.Prepare("SELECT 1 FROM sweeps WHERE id = ?1"));
    std::string id;
    for (int tries = 0; id.empty(); ++tries) {
      if (tries == 32) return absl::InternalError("could not find an unused sweep id");
      std::string candidate = NewSweepId();
      exists.BindText(1, candidate);
      OPTBENCH_ASSIGN_OR_RETURN(bool taken, exists.Step());
      OPTBENCH_RETURN_IF_ERROR(exists.Reset());
      if (!taken) id = std::move(candidate);
    }
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement insert_sweep,
        conn.Prepare("INSERT INTO sweeps (id, name, source, created_at, num_jobs, note) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    insert_sweep.BindText(1, id);
    insert_sweep.BindText(2, name);
    insert_sweep.BindText(3, source);
    insert_sweep.BindTime(4, now);
    insert_sweep.BindInt64(5, static_cast<int64_t>(jobs.size()));
    insert_sweep.BindText(6, annotations.note);
    OPTBENCH_RETURN_IF_ERROR(insert_sweep.Run());
    const int64_t seq = conn.LastInsertRowid();  // sweeps.seq is the rowid.
    OPTBENCH_RETURN_IF_ERROR(InsertTags(conn, seq, annotations.tags));
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement insert_job,
        conn.Prepare("INSERT INTO jobs (id, sweep_seq, idx, spec, summary_json, state, "
                     "max_attempts, total_steps, created_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    for (size_t i = 0; i < jobs.size(); ++i) {
      insert_job.BindText(1, absl::StrCat(id, "-", i));
      insert_job.BindInt64(2, seq);
      insert_job.BindInt64(3, static_cast<int64_t>(i));
      insert_job.BindBlob(4, jobs[i].spec);
      insert_job.BindText(5, jobs[i].summary_json);
      insert_job.BindInt64(6, static_cast<int64_t>(JobState::kQueued));
      insert_job.BindInt64(7, jobs[i].max_attempts);
      insert_job.BindInt64(8, jobs[i].total_steps);
      insert_job.BindTime(9, now);
      OPTBENCH_RETURN_IF_ERROR(insert_job.Run());
      OPTBENCH_RETURN_IF_ERROR(insert_job.Reset());
    }
    OPTBENCH_ASSIGN_OR_RETURN(StoredSweep stored, LoadSweep(conn, id));
    sweep = std::move(stored.record);
    return absl::OkStatus();
  }));
  return sweep;
}

absl::StatusOr<SweepRecord> SqliteStore::GetSweep(const std::string& sweep_id) {
  SweepRecord sweep;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(StoredSweep stored, LoadSweep(conn, sweep_id));
    sweep = std::move(stored.record);
    return absl::OkStatus();
  }));
  return sweep;
}

absl::StatusOr<SweepRecord> SqliteStore::FindSweepByName(const std::string& name) {
  SweepRecord sweep;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement stmt,
        conn.Prepare(absl::StrCat(kSelectSweep, "WHERE name = ?1 ORDER BY seq DESC LIMIT 1")));
    stmt.BindText(1, name);
    OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::NotFoundError(absl::StrFormat("no sweep is named '%s'", name));
    sweep = ReadSweep(stmt).record;
    return absl::OkStatus();
  }));
  return sweep;
}

absl::StatusOr<SweepPage> SqliteStore::ListSweeps(const SweepFilter& filter) {
  if (filter.limit < 1 || filter.limit > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("limit must be in 1..%d, got %d", kMaxPageSize, filter.limit));
  }
  OPTBENCH_RETURN_IF_ERROR(CheckTags(filter.tags));
  int64_t before_seq = INT64_MAX;
  if (!filter.page_token.empty()) {
    OPTBENCH_RETURN_IF_ERROR(DecodeSweepPageToken(filter.page_token, &before_seq));
  }
  // The conditions, numbered from ?3 on (?1 and ?2 are the page's bounds).
  std::string where = "WHERE 1";
  std::vector<std::string> texts;
  for (const std::string& tag : filter.tags) {
    texts.push_back(tag);
    absl::StrAppend(&where,
                    " AND EXISTS (SELECT 1 FROM sweep_tags t WHERE t.sweep_seq = "
                    "sweeps.seq AND t.tag = ?",
                    texts.size() + 2, ")");
  }
  if (!filter.name_contains.empty()) {
    texts.push_back(filter.name_contains);
    absl::StrAppend(&where, " AND instr(lower(name), lower(?", texts.size() + 2, ")) > 0");
  }
  if (filter.has_state.has_value()) {
    absl::StrAppend(&where, " AND EXISTS (SELECT 1 FROM jobs j WHERE j.state = ",
                    static_cast<int>(*filter.has_state), " AND j.sweep_seq = sweeps.seq)");
  }
  // States 1 and 2 (queued, running) are the live ones (storage/store.h JobState).
  constexpr char kLive[] =
      "EXISTS (SELECT 1 FROM jobs j WHERE j.state IN (1, 2) AND "
      "j.sweep_seq = sweeps.seq)";
  if (filter.progress == SweepFilter::Progress::kActive) absl::StrAppend(&where, " AND ", kLive);
  if (filter.progress == SweepFilter::Progress::kDone) absl::StrAppend(&where, " AND NOT ", kLive);
  auto bind = [&](Statement& stmt) {
    for (size_t i = 0; i < texts.size(); ++i) stmt.BindText(static_cast<int>(i) + 3, texts[i]);
  };
  SweepPage page;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(Statement count,
                              conn.Prepare(absl::StrCat("SELECT count(*) FROM sweeps ", where)));
    bind(count);  // ?1 and ?2 are unused here: SQLite leaves them NULL.
    OPTBENCH_ASSIGN_OR_RETURN(bool counted, count.Step());
    if (counted) page.total = count.ColumnInt64(0);
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare(absl::StrCat(kSelectSweep, where,
                                                  " AND seq < ?1 ORDER BY seq DESC LIMIT ?2")));
    stmt.BindInt64(1, before_seq);
    // One extra row says whether another page follows.
    stmt.BindInt64(2, filter.limit + 1);
    bind(stmt);
    int64_t last_seq = 0;
    while (true) {
      OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      if (static_cast<int64_t>(page.sweeps.size()) == filter.limit) {
        page.next_page_token = EncodeSweepPageToken(last_seq);
        break;
      }
      StoredSweep sweep = ReadSweep(stmt);
      last_seq = sweep.seq;
      page.sweeps.push_back(std::move(sweep.record));
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<SweepRecord> SqliteStore::UpdateSweep(const std::string& sweep_id,
                                                     const std::vector<std::string>& add_tags,
                                                     const std::vector<std::string>& remove_tags,
                                                     const std::optional<std::string>& note) {
  OPTBENCH_RETURN_IF_ERROR(CheckTags(add_tags));
  OPTBENCH_RETURN_IF_ERROR(CheckTags(remove_tags));
  SweepRecord sweep;
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(StoredSweep stored, LoadSweep(conn, sweep_id));
    if (!remove_tags.empty()) {
      OPTBENCH_ASSIGN_OR_RETURN(
          Statement remove,
          conn.Prepare("DELETE FROM sweep_tags WHERE sweep_seq = ?1 AND tag = ?2"));
      for (const std::string& tag : remove_tags) {
        remove.BindInt64(1, stored.seq);
        remove.BindText(2, tag);
        OPTBENCH_RETURN_IF_ERROR(remove.Run());
        OPTBENCH_RETURN_IF_ERROR(remove.Reset());
      }
    }
    OPTBENCH_RETURN_IF_ERROR(InsertTags(conn, stored.seq, add_tags));
    if (note.has_value()) {
      OPTBENCH_ASSIGN_OR_RETURN(Statement set,
                                conn.Prepare("UPDATE sweeps SET note = ?1 WHERE seq = ?2"));
      set.BindText(1, *note);
      set.BindInt64(2, stored.seq);
      OPTBENCH_RETURN_IF_ERROR(set.Run());
    }
    OPTBENCH_ASSIGN_OR_RETURN(stored, LoadSweep(conn, sweep_id));
    sweep = std::move(stored.record);
    return absl::OkStatus();
  }));
  return sweep;
}

absl::StatusOr<SweepDeletion> SqliteStore::DeleteSweep(const std::string& sweep_id,
                                                       const SweepCheck& check) {
  SweepDeletion deleted;
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(StoredSweep sweep, LoadSweep(conn, sweep_id));
    {
      OPTBENCH_ASSIGN_OR_RETURN(
          Statement jobs, conn.Prepare(absl::StrCat(SelectJob(ClassCounts::kSkip),
                                                    "WHERE j.sweep_seq = ?1 ORDER BY j.idx")));
      jobs.BindInt64(1, sweep.seq);
      std::vector<JobRecord> records;
      while (true) {
        OPTBENCH_ASSIGN_OR_RETURN(bool row, jobs.Step());
        if (!row) break;
        OPTBENCH_ASSIGN_OR_RETURN(JobRecord job, ReadJob(jobs));
        records.push_back(std::move(job));
      }
      OPTBENCH_RETURN_IF_ERROR(check(records));
    }
    // Children first: metrics and checkpoints name their job without ON DELETE CASCADE (schema
    // versions 1 and 3); kept models and their pieces cascade, but are counted first.
    constexpr char kJobsOfSweep[] = "(SELECT id FROM jobs WHERE sweep_seq = ?1)";
    const std::pair<const char*, int64_t*> steps[] = {
        {"DELETE FROM metrics WHERE job_id IN ", &deleted.metric_rows},
        {"DELETE FROM checkpoints WHERE job_id IN ", &deleted.checkpoints},
        {"DELETE FROM kept_models WHERE job_id IN ", &deleted.kept_models},
    };
    for (const auto& [sql, count] : steps) {
      OPTBENCH_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(absl::StrCat(sql, kJobsOfSweep)));
      stmt.BindInt64(1, sweep.seq);
      OPTBENCH_RETURN_IF_ERROR(stmt.Run());
      *count = conn.Changes();
    }
    OPTBENCH_ASSIGN_OR_RETURN(Statement jobs,
                              conn.Prepare("DELETE FROM jobs WHERE sweep_seq = ?1"));
    jobs.BindInt64(1, sweep.seq);
    OPTBENCH_RETURN_IF_ERROR(jobs.Run());
    deleted.jobs = conn.Changes();
    // Its tags cascade.
    OPTBENCH_ASSIGN_OR_RETURN(Statement row, conn.Prepare("DELETE FROM sweeps WHERE seq = ?1"));
    row.BindInt64(1, sweep.seq);
    return row.Run();
  }));
  return deleted;
}

// ---------------------------------------------------------------------------------------------
// Jobs

absl::StatusOr<JobRecord> SqliteStore::GetJob(const std::string& job_id) {
  JobRecord job;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(job, LoadJob(conn, job_id));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<JobPage> SqliteStore::ListJobs(const JobFilter& filter) {
  if (filter.page_size < 1 || filter.page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("page_size must be in 1..%d, got %d", kMaxPageSize, filter.page_size));
  }
  int64_t after_seq = -1;
  int64_t after_index = -1;
  if (!filter.page_token.empty()) {
    OPTBENCH_RETURN_IF_ERROR(DecodePageToken(filter.page_token, &after_seq, &after_index));
  }
  JobPage page;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    std::string sql =
        absl::StrCat(SelectJob(ClassCounts::kRead), "WHERE (j.sweep_seq, j.idx) > (?1, ?2)");
    if (!filter.sweep_id.empty()) absl::StrAppend(&sql, " AND j.sweep_seq = ?3");
    if (filter.state.has_value()) absl::StrAppend(&sql, " AND j.state = ?4");
    absl::StrAppend(&sql, " ORDER BY j.sweep_seq, j.idx LIMIT ?5");
    OPTBENCH_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
    stmt.BindInt64(1, after_seq);
    stmt.BindInt64(2, after_index);
    if (!filter.sweep_id.empty()) {
      OPTBENCH_ASSIGN_OR_RETURN(StoredSweep sweep, LoadSweep(conn, filter.sweep_id));
      stmt.BindInt64(3, sweep.seq);
    }
    if (filter.state.has_value()) stmt.BindInt64(4, static_cast<int64_t>(*filter.state));
    // One extra row says whether another page follows.
    stmt.BindInt64(5, filter.page_size + 1);
    int64_t last_seq = 0;
    while (true) {
      OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      if (static_cast<int64_t>(page.jobs.size()) == filter.page_size) {
        page.next_page_token = EncodePageToken(last_seq, page.jobs.back().index);
        break;
      }
      OPTBENCH_ASSIGN_OR_RETURN(JobRecord job, ReadJob(stmt));
      last_seq = stmt.ColumnInt64(kSweepSeqColumn);
      page.jobs.push_back(std::move(job));
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<std::vector<std::pair<JobState, int64_t>>> SqliteStore::CountJobs(
    const std::string& sweep_id) {
  std::vector<std::pair<JobState, int64_t>> counts;
  for (int s = static_cast<int>(JobState::kQueued); s <= static_cast<int>(JobState::kCancelled);
       ++s) {
    counts.emplace_back(static_cast<JobState>(s), 0);
  }
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    std::string sql = "SELECT state, count(*) FROM jobs";
    if (!sweep_id.empty()) absl::StrAppend(&sql, " WHERE sweep_seq = ?1");
    absl::StrAppend(&sql, " GROUP BY state");
    OPTBENCH_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
    if (!sweep_id.empty()) {
      OPTBENCH_ASSIGN_OR_RETURN(StoredSweep sweep, LoadSweep(conn, sweep_id));
      stmt.BindInt64(1, sweep.seq);
    }
    while (true) {
      OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      OPTBENCH_ASSIGN_OR_RETURN(JobState state, StateFromInt(stmt.ColumnInt64(0), "(count)"));
      counts[static_cast<int>(state) - 1].second = stmt.ColumnInt64(1);
    }
    return absl::OkStatus();
  }));
  return counts;
}

absl::StatusOr<JobRecord> SqliteStore::UpdateJob(const std::string& job_id,
                                                 const JobDecision& decide) {
  JobRecord job;
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(job, DecideAbout(conn, job_id, decide));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<std::vector<JobRecord>> SqliteStore::UpdateJobs(const JobSelection& selection,
                                                               const JobDecision& decide) {
  if (selection.limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("job selection limit must be >= 0, got %d", selection.limit));
  }
  std::string sql = absl::StrCat(SelectJob(ClassCounts::kSkip), "WHERE 1");
  if (!selection.sweep_id.empty()) absl::StrAppend(&sql, " AND j.sweep_seq = ?1");
  if (!selection.states.empty()) {
    std::vector<int> states;
    for (JobState state : selection.states) states.push_back(static_cast<int>(state));
    absl::StrAppend(&sql, " AND j.state IN (", absl::StrJoin(states, ", "), ")");
  }
  if (selection.lease_expires_before.has_value()) {
    absl::StrAppend(&sql, " AND j.lease_expires_at < ?2");
  }
  absl::StrAppend(&sql, " ORDER BY j.sweep_seq, j.idx");
  if (selection.limit > 0) absl::StrAppend(&sql, " LIMIT ?3");

  std::vector<JobRecord> changed;
  // BEGIN IMMEDIATE (in Write) holds the write lock from the SELECT to the last UPDATE, so no other
  // connection or process can change a selected job in between (two claims of one job).
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(Statement select, conn.Prepare(sql));
    if (!selection.sweep_id.empty()) {
      OPTBENCH_ASSIGN_OR_RETURN(StoredSweep sweep, LoadSweep(conn, selection.sweep_id));
      select.BindInt64(1, sweep.seq);
    }
    if (selection.lease_expires_before.has_value()) {
      select.BindTime(2, *selection.lease_expires_before);
    }
    if (selection.limit > 0) select.BindInt64(3, selection.limit);
    // Updating rows while a SELECT over the same table is open is well defined in SQLite, but
    // reading all jobs first keeps the reasoning simple.
    std::vector<JobRecord> jobs;
    while (true) {
      OPTBENCH_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      OPTBENCH_ASSIGN_OR_RETURN(JobRecord job, ReadJob(select));
      jobs.push_back(std::move(job));
    }
    for (JobRecord& job : jobs) {
      OPTBENCH_ASSIGN_OR_RETURN(const bool wrote, ApplyDecision(conn, &job, decide));
      if (wrote) changed.push_back(std::move(job));
    }
    return absl::OkStatus();
  }));
  return changed;
}

namespace {

// The upserts of AppendMetrics, inside the caller's transaction, for `job` as stored.
absl::Status AppendInTransaction(Connection& conn, const JobRecord& job,
                                 const std::vector<MetricRow>& rows) {
  const std::string& job_id = job.id;
  // A per-class vector has one value per class of the job (once its data set is known).
  if (job.num_classes > 0) {
    for (const MetricRow& row : rows) {
      if (!row.per_item && row.values.size() > 1 &&
          static_cast<int64_t>(row.values.size()) != job.num_classes) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "metric %s/%s at step %d of job %s has %d values; the job has %d classes", row.split,
            row.metric, row.step, job_id, row.values.size(), job.num_classes));
      }
    }
  }
  // Idempotent: a retried batch (or a retried attempt of a deterministic job) rewrites the
  // same keys.
  OPTBENCH_ASSIGN_OR_RETURN(
      Statement upsert,
      conn.Prepare("INSERT INTO metrics (job_id, step, split, metric, vals) "
                   "VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT (job_id, step, split, metric) DO UPDATE SET vals = excluded.vals"));
  for (const MetricRow& row : rows) {
    upsert.BindText(1, job_id);
    upsert.BindInt64(2, row.step);
    upsert.BindText(3, row.split);
    upsert.BindText(4, row.metric);
    upsert.BindBlob(5, Pack(row.values));
    OPTBENCH_RETURN_IF_ERROR(upsert.Run());
    OPTBENCH_RETURN_IF_ERROR(upsert.Reset());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobRecord> SqliteStore::AppendMetrics(const std::string& job_id,
                                                     const std::vector<MetricRow>& rows,
                                                     const JobDecision& decide) {
  for (size_t i = 0; i < rows.size(); ++i) {
    OPTBENCH_RETURN_IF_ERROR(ValidateRow(job_id, rows[i], i));
  }
  JobRecord job;
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(job, DecideAbout(conn, job_id, decide));
    return AppendInTransaction(conn, job, rows);
  }));
  return job;
}

absl::Status SqliteStore::SetDatasetInfo(const std::string& job_id, int64_t num_classes,
                                         const std::vector<int64_t>& train_counts,
                                         const std::vector<int64_t>& test_counts,
                                         const std::string& metrics, const JobDecision& decide) {
  if (num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_classes must be >= 1, got %d", num_classes));
  }
  OPTBENCH_RETURN_IF_ERROR(ValidateCounts(train_counts, num_classes, "train"));
  OPTBENCH_RETURN_IF_ERROR(ValidateCounts(test_counts, num_classes, "test"));
  return Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_RETURN_IF_ERROR(DecideAbout(conn, job_id, decide).status());
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement update, conn.Prepare("UPDATE jobs SET num_classes = ?1, train_class_counts = ?2, "
                                       "test_class_counts = ?3, metrics = ?4 WHERE id = ?5"));
    update.BindInt64(1, num_classes);
    update.BindBlob(2, Pack(train_counts));
    update.BindBlob(3, Pack(test_counts));
    update.BindBlob(4, metrics);
    update.BindText(5, job_id);
    return update.Run();
  });
}

// ---------------------------------------------------------------------------------------------
// Checkpoints, metrics and workers

absl::Status SqliteStore::SaveCheckpoint(const std::string& job_id, int64_t step,
                                         const std::string& data, int keep,
                                         const JobDecision& decide) {
  if (step < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint step must be >= 1, got %d (job %s)", step, job_id));
  }
  if (data.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint of job %s at step %d is empty", job_id, step));
  }
  if (keep < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoints to keep must be >= 1, got %d", keep));
  }
  return Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_RETURN_IF_ERROR(DecideAbout(conn, job_id, decide).status());
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement upsert,
        conn.Prepare("INSERT INTO checkpoints (job_id, step, data) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (job_id, step) DO UPDATE SET data = excluded.data"));
    upsert.BindText(1, job_id);
    upsert.BindInt64(2, step);
    upsert.BindBlob(3, data);
    OPTBENCH_RETURN_IF_ERROR(upsert.Run());
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement prune,
        conn.Prepare("DELETE FROM checkpoints WHERE job_id = ?1 AND step NOT IN "
                     "(SELECT step FROM checkpoints WHERE job_id = ?1 ORDER BY step DESC "
                     "LIMIT ?2)"));
    prune.BindText(1, job_id);
    prune.BindInt64(2, keep);
    return prune.Run();
  });
}

absl::StatusOr<std::optional<CheckpointRecord>> SqliteStore::LoadCheckpoint(
    const std::string& job_id, int64_t before_step, const JobDecision& decide) {
  std::optional<CheckpointRecord> found;
  // Guarded by a decision like the writes, so it runs on the writer connection: a stale worker
  // must not read the checkpoint of the job's next attempt either.
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_RETURN_IF_ERROR(DecideAbout(conn, job_id, decide).status());
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare("SELECT step, data FROM checkpoints WHERE job_id = ?1 AND "
                                     "step < ?2 ORDER BY step DESC LIMIT 1"));
    stmt.BindText(1, job_id);
    stmt.BindInt64(2, before_step);
    OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) found = CheckpointRecord{stmt.ColumnInt64(0), stmt.ColumnBlob(1)};
    return absl::OkStatus();
  }));
  return found;
}

// ---------------------------------------------------------------------------------------------
// Kept models

namespace {

// Checksums are unsigned; SQLite integers are signed. The bits are kept as they are.
int64_t ChecksumToColumn(uint64_t checksum) { return static_cast<int64_t>(checksum); }
uint64_t ChecksumFromColumn(int64_t column) { return static_cast<uint64_t>(column); }

// "piece [offset, end) of the model of job X": how errors name a piece.
std::string PieceName(const std::string& job_id, const KeptModelChunk& chunk) {
  return absl::StrFormat("kept model piece [%d, %d) of job %s", chunk.offset,
                         chunk.offset + static_cast<int64_t>(chunk.data.size()), job_id);
}

absl::Status ValidatePiece(const std::string& job_id, const KeptModelChunk& chunk) {
  const int64_t size = static_cast<int64_t>(chunk.data.size());
  if (chunk.total_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("kept model of job %s: total_bytes %d; a model has at least 1 byte", job_id,
                        chunk.total_bytes));
  }
  if (chunk.offset < 0 || size == 0 || chunk.offset > chunk.total_bytes - size) {
    return absl::InvalidArgumentError(
        absl::StrFormat("kept model piece of job %s at offset %d with %d bytes: must hold 1 or "
                        "more bytes within the model's %d",
                        job_id, chunk.offset, size, chunk.total_bytes));
  }
  return absl::OkStatus();
}

// The upload `chunk` continues, inside the caller's write transaction: the job's kept_models row
// must describe the same model, and the stored pieces must reach `chunk.offset`. Pieces from
// that offset on (sent before a reconnect) are dropped, as this one replaces them.
absl::Status ContinueUpload(Connection& conn, const std::string& job_id,
                            const KeptModelChunk& chunk) {
  OPTBENCH_ASSIGN_OR_RETURN(
      Statement upload,
      conn.Prepare("SELECT size_bytes, checksum FROM kept_models WHERE job_id = ?1"));
  upload.BindText(1, job_id);
  OPTBENCH_ASSIGN_OR_RETURN(bool started, upload.Step());
  if (!started) {
    return absl::InvalidArgumentError(absl::StrCat(
        PieceName(job_id, chunk), ": no upload is under way; an upload starts at offset 0"));
  }
  const int64_t size = upload.ColumnInt64(0);
  const uint64_t checksum = ChecksumFromColumn(upload.ColumnInt64(1));
  if (size != chunk.total_bytes || checksum != chunk.checksum) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: is of a model of %d bytes with checksum %016x; the upload under way is of %d bytes "
        "with checksum %016x",
        PieceName(job_id, chunk), chunk.total_bytes, chunk.checksum, size, checksum));
  }
  OPTBENCH_ASSIGN_OR_RETURN(
      Statement drop,
      conn.Prepare("DELETE FROM kept_model_pieces WHERE job_id = ?1 AND byte_offset >= ?2"));
  drop.BindText(1, job_id);
  drop.BindInt64(2, chunk.offset);
  OPTBENCH_RETURN_IF_ERROR(drop.Run());
  // Pieces are stored end to end from 0, so the end of the last one is how much is held.
  OPTBENCH_ASSIGN_OR_RETURN(Statement held,
                            conn.Prepare("SELECT byte_offset + length(data) FROM kept_model_pieces "
                                         "WHERE job_id = ?1 ORDER BY byte_offset DESC LIMIT 1"));
  held.BindText(1, job_id);
  OPTBENCH_ASSIGN_OR_RETURN(bool any, held.Step());
  const int64_t held_bytes = any ? held.ColumnInt64(0) : 0;
  if (held_bytes != chunk.offset) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: the upload holds bytes [0, %d); pieces come in order",
                        PieceName(job_id, chunk), held_bytes));
  }
  OPTBENCH_ASSIGN_OR_RETURN(Statement reopen,
                            conn.Prepare("UPDATE kept_models SET complete = 0 WHERE job_id = ?1"));
  reopen.BindText(1, job_id);
  return reopen.Run();
}

// Checks the finished upload of `job_id` against its size and checksum, reading the pieces one
// at a time (a model is never held whole here), and marks it complete.
absl::Status FinishUpload(Connection& conn, const std::string& job_id, const KeptModelChunk& last) {
  OPTBENCH_ASSIGN_OR_RETURN(Statement pieces,
                            conn.Prepare("SELECT byte_offset, data FROM kept_model_pieces WHERE "
                                         "job_id = ?1 ORDER BY byte_offset"));
  pieces.BindText(1, job_id);
  Fnv1a64Hash hash;
  int64_t end = 0;
  while (true) {
    OPTBENCH_ASSIGN_OR_RETURN(bool row, pieces.Step());
    if (!row) break;
    if (pieces.ColumnInt64(0) != end) {
      return absl::DataLossError(absl::StrFormat(
          "kept model of job %s: a piece starts at byte %d, the one before ends at %d", job_id,
          pieces.ColumnInt64(0), end));
    }
    const absl::string_view data = pieces.ColumnBlobView(1);
    hash.Update(std::string_view(data.data(), data.size()));
    end += static_cast<int64_t>(data.size());
  }
  if (end != last.total_bytes || hash.value() != last.checksum) {
    return absl::DataLossError(absl::StrFormat(
        "kept model of job %s: the pieces hold %d bytes with checksum %016x; the model sent has "
        "%d bytes with checksum %016x (corrupted on the way)",
        job_id, end, hash.value(), last.total_bytes, last.checksum));
  }
  OPTBENCH_ASSIGN_OR_RETURN(Statement complete,
                            conn.Prepare("UPDATE kept_models SET complete = 1 WHERE job_id = ?1"));
  complete.BindText(1, job_id);
  return complete.Run();
}

}  // namespace

absl::StatusOr<JobRecord> SqliteStore::SaveKeptModelChunk(const std::string& job_id,
                                                          const KeptModelChunk& chunk,
                                                          const JobDecision& decide) {
  OPTBENCH_RETURN_IF_ERROR(ValidatePiece(job_id, chunk));
  JobRecord job;
  OPTBENCH_RETURN_IF_ERROR(Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_RETURN_IF_ERROR(DecideAbout(conn, job_id, decide).status());
    if (chunk.offset == 0) {
      // A new upload: whatever the job held goes (its pieces cascade).
      OPTBENCH_ASSIGN_OR_RETURN(Statement drop,
                                conn.Prepare("DELETE FROM kept_models WHERE job_id = ?1"));
      drop.BindText(1, job_id);
      OPTBENCH_RETURN_IF_ERROR(drop.Run());
      OPTBENCH_ASSIGN_OR_RETURN(
          Statement start, conn.Prepare("INSERT INTO kept_models (job_id, size_bytes, checksum) "
                                        "VALUES (?1, ?2, ?3)"));
      start.BindText(1, job_id);
      start.BindInt64(2, chunk.total_bytes);
      start.BindInt64(3, ChecksumToColumn(chunk.checksum));
      OPTBENCH_RETURN_IF_ERROR(start.Run());
    } else {
      OPTBENCH_RETURN_IF_ERROR(ContinueUpload(conn, job_id, chunk));
    }
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement insert,
        conn.Prepare("INSERT INTO kept_model_pieces (job_id, byte_offset, data) VALUES (?1, ?2, "
                     "?3)"));
    insert.BindText(1, job_id);
    insert.BindInt64(2, chunk.offset);
    insert.BindBlob(3, chunk.data);
    OPTBENCH_RETURN_IF_ERROR(insert.Run());
    if (chunk.offset + static_cast<int64_t>(chunk.data.size()) == chunk.total_bytes) {
      OPTBENCH_RETURN_IF_ERROR(FinishUpload(conn, job_id, chunk));
    }
    OPTBENCH_ASSIGN_OR_RETURN(job, LoadJob(conn, job_id, ClassCounts::kSkip));
    return absl::OkStatus();
  }));
  return job;
}

absl::StatusOr<KeptModelChunk> SqliteStore::ReadKeptModelChunk(const std::string& job_id,
                                                               int64_t offset) {
  KeptModelChunk chunk;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(Statement model,
                              conn.Prepare("SELECT size_bytes, checksum FROM kept_models WHERE "
                                           "job_id = ?1 AND complete = 1"));
    model.BindText(1, job_id);
    OPTBENCH_ASSIGN_OR_RETURN(bool kept, model.Step());
    if (!kept) {
      // Tell an unknown job from one without a model.
      OPTBENCH_RETURN_IF_ERROR(LoadJob(conn, job_id, ClassCounts::kSkip).status());
      return absl::NotFoundError(absl::StrFormat("job %s has no kept model", job_id));
    }
    chunk.total_bytes = model.ColumnInt64(0);
    chunk.checksum = ChecksumFromColumn(model.ColumnInt64(1));
    chunk.offset = offset;
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement piece,
        conn.Prepare("SELECT data FROM kept_model_pieces WHERE job_id = ?1 AND byte_offset = ?2"));
    piece.BindText(1, job_id);
    piece.BindInt64(2, offset);
    OPTBENCH_ASSIGN_OR_RETURN(bool found, piece.Step());
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrFormat("no piece of the kept model of job %s (%d bytes) starts at offset %d",
                          job_id, chunk.total_bytes, offset));
    }
    chunk.data = piece.ColumnBlob(0);
    return absl::OkStatus();
  }));
  return chunk;
}

absl::StatusOr<std::vector<MetricRow>> SqliteStore::ReadMetrics(const MetricQuery& query) {
  if (query.job_ids.empty()) return absl::InvalidArgumentError("metric query names no jobs");
  if (query.min_step > query.max_step) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "metric query min_step %d is greater than max_step %d", query.min_step, query.max_step));
  }
  std::string sql =
      "SELECT step, split, metric, vals FROM metrics WHERE job_id = ?1 AND step BETWEEN ?2 AND ?3";
  if (!query.split.empty()) absl::StrAppend(&sql, " AND split = ?4");
  if (!query.metrics.empty()) {
    std::vector<std::string> params;
    for (size_t i = 0; i < query.metrics.size(); ++i) params.push_back(absl::StrCat("?", 5 + i));
    absl::StrAppend(&sql, " AND metric IN (", absl::StrJoin(params, ", "), ")");
  }
  // The primary key's order: no sort step.
  absl::StrAppend(&sql, " ORDER BY step, split, metric");

  std::vector<MetricRow> rows;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
    absl::flat_hash_set<std::string> seen;
    for (const std::string& job_id : query.job_ids) {
      if (!seen.insert(job_id).second) continue;
      stmt.BindText(1, job_id);
      stmt.BindInt64(2, query.min_step);
      stmt.BindInt64(3, query.max_step);
      if (!query.split.empty()) stmt.BindText(4, query.split);
      for (size_t i = 0; i < query.metrics.size(); ++i) {
        stmt.BindText(static_cast<int>(5 + i), query.metrics[i]);
      }
      while (true) {
        OPTBENCH_ASSIGN_OR_RETURN(bool found, stmt.Step());
        if (!found) break;
        MetricRow row;
        row.job_id = job_id;
        row.step = stmt.ColumnInt64(0);
        row.split = stmt.ColumnText(1);
        row.metric = stmt.ColumnText(2);
        OPTBENCH_ASSIGN_OR_RETURN(row.values, Unpack<double>(stmt.ColumnBlobView(3), [&] {
                                    return absl::StrFormat("metric %s/%s at step %d of job %s",
                                                           row.split, row.metric, row.step, job_id);
                                  }));
        rows.push_back(std::move(row));
      }
      OPTBENCH_RETURN_IF_ERROR(stmt.Reset());
    }
    return absl::OkStatus();
  }));
  return rows;
}

absl::Status SqliteStore::UpsertWorker(const WorkerRecord& worker) {
  if (worker.id.empty()) return absl::InvalidArgumentError("worker id is empty");
  if (worker.slots < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("worker %s has slots %d; must be >= 0", worker.id, worker.slots));
  }
  return Write([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement upsert,
        conn.Prepare("INSERT INTO workers (id, name, slots, last_seen) VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                     "slots = excluded.slots, last_seen = excluded.last_seen"));
    upsert.BindText(1, worker.id);
    upsert.BindText(2, worker.name);
    upsert.BindInt64(3, worker.slots);
    upsert.BindTime(4, worker.last_seen);
    return upsert.Run();
  });
}

absl::StatusOr<std::vector<WorkerRecord>> SqliteStore::ListWorkers() {
  std::vector<WorkerRecord> workers;
  OPTBENCH_RETURN_IF_ERROR(Read([&](Connection& conn) -> absl::Status {
    OPTBENCH_ASSIGN_OR_RETURN(
        Statement stmt, conn.Prepare("SELECT id, name, slots, last_seen FROM workers ORDER BY id"));
    while (true) {
      OPTBENCH_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      WorkerRecord worker;
      worker.id = stmt.ColumnText(0);
      worker.name = stmt.ColumnText(1);
      worker.slots = static_cast<int32_t>(stmt.ColumnInt64(2));
      worker.last_seen = stmt.ColumnTime(3);
      workers.push_back(std::move(worker));
    }
    return absl::OkStatus();
  }));
  return workers;
}

}  // namespace optbench::storage
