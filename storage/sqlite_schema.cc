#include "storage/sqlite_schema.h"

#include <iterator>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace optbench::storage::internal {
namespace {

// Times are unix microseconds in INTEGER columns; NULL is absl::InfinitePast() ("never").
// Per-class vectors are BLOBs of packed little-endian values (float64 for metrics, int64 for class
// counts), so a 50k-class model writes one row per (job, step, split, metric), not 50k.
constexpr Migration kMigrations[] = {
    {1, "sweeps, jobs and metrics", R"sql(
CREATE TABLE sweeps (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order; never reused
  id         TEXT NOT NULL UNIQUE,               -- "s-" + 8 hex digits
  name       TEXT NOT NULL,
  source     TEXT NOT NULL,
  created_at INTEGER,
  num_jobs   INTEGER NOT NULL
);
CREATE TABLE jobs (
  id                 TEXT PRIMARY KEY,           -- "<sweep id>-<idx>"
  sweep_seq          INTEGER NOT NULL REFERENCES sweeps(seq),
  idx                INTEGER NOT NULL,
  spec               BLOB NOT NULL,
  summary_json       TEXT NOT NULL,
  state              INTEGER NOT NULL CHECK (state BETWEEN 1 AND 6),
  attempt            INTEGER NOT NULL DEFAULT 0,
  max_attempts       INTEGER NOT NULL CHECK (max_attempts >= 1),
  worker_id          TEXT NOT NULL DEFAULT '',
  lease_token        TEXT NOT NULL DEFAULT '',
  lease_expires_at   INTEGER,
  progress_step      INTEGER NOT NULL DEFAULT 0,
  total_steps        INTEGER NOT NULL,
  cancel_requested   INTEGER NOT NULL DEFAULT 0,
  error              TEXT NOT NULL DEFAULT '',
  created_at         INTEGER,
  started_at         INTEGER,
  finished_at        INTEGER,
  num_classes        INTEGER NOT NULL DEFAULT 0,
  train_class_counts BLOB NOT NULL DEFAULT x'',
  test_class_counts  BLOB NOT NULL DEFAULT x''
);
CREATE UNIQUE INDEX jobs_by_sweep ON jobs (sweep_seq, idx);
CREATE TABLE metrics (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  step   INTEGER NOT NULL,
  split  TEXT NOT NULL,
  metric TEXT NOT NULL,
  vals   BLOB NOT NULL,
  PRIMARY KEY (job_id, step, split, metric)
) WITHOUT ROWID;
)sql"},
    {2, "workers table; index for claim order", R"sql(
CREATE TABLE workers (
  id        TEXT PRIMARY KEY,
  name      TEXT NOT NULL,
  slots     INTEGER NOT NULL,
  last_seen INTEGER
) WITHOUT ROWID;
CREATE INDEX jobs_by_state ON jobs (state, sweep_seq, idx);
)sql"},
    {3, "training checkpoints, dropped when their job ends", R"sql(
CREATE TABLE checkpoints (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  step   INTEGER NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (job_id, step)
);
-- States 3..6 are terminal (storage/store.h JobState): a finished job never resumes.
CREATE TRIGGER checkpoints_drop_on_finish AFTER UPDATE OF state ON jobs
  WHEN NEW.state BETWEEN 3 AND 6
BEGIN
  DELETE FROM checkpoints WHERE job_id = NEW.id;
END;
)sql"},
    {4, "the metrics a job's run declares (a serialized optbench.v1.MetricDeclarations)", R"sql(
ALTER TABLE jobs ADD COLUMN metrics BLOB NOT NULL DEFAULT x'';
)sql"},
    // A model is stored as the pieces it was uploaded in (at most a few MiB each: rows that size
    // are cheap, and a model read back piece by piece is never held whole by the coordinator).
    // It belongs to the attempt that uploaded it, and to its job: deleting the job's row (a
    // deleted sweep) cascades to it; leaving RUNNING other than by succeeding (requeued for
    // another attempt, failed, diverged, cancelled) drops it, and succeeding drops an unfinished
    // upload. States are storage/store.h's JobState: 2 running, 3 succeeded.
    {5, "kept models, stored in pieces and dropped with their job; sweeps by name", R"sql(
CREATE TABLE kept_models (
  job_id     TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
  size_bytes INTEGER NOT NULL CHECK (size_bytes >= 1),
  checksum   INTEGER NOT NULL,            -- FNV-1a 64 of the whole model, as a signed integer
  complete   INTEGER NOT NULL DEFAULT 0   -- 1 once every piece is in and the checksum matched
) WITHOUT ROWID;
CREATE TABLE kept_model_pieces (
  job_id      TEXT NOT NULL REFERENCES kept_models(job_id) ON DELETE CASCADE,
  byte_offset INTEGER NOT NULL,
  data        BLOB NOT NULL,
  PRIMARY KEY (job_id, byte_offset)
);
CREATE TRIGGER kept_models_drop AFTER UPDATE OF state ON jobs
  WHEN NEW.state <> OLD.state AND NEW.state NOT IN (2, 3)
BEGIN
  DELETE FROM kept_models WHERE job_id = NEW.id;
END;
CREATE TRIGGER kept_models_drop_unfinished AFTER UPDATE OF state ON jobs
  WHEN NEW.state <> OLD.state AND NEW.state = 3
BEGIN
  DELETE FROM kept_models WHERE job_id = NEW.id AND complete = 0;
END;
-- Sources name sweeps by name too: the most recent one of that name.
CREATE INDEX sweeps_by_name ON sweeps (name, seq);
)sql"},
    // Tags and a note on each sweep (issue 13), to find sweeps again. A tag row goes with its
    // sweep's row.
    {6, "sweep tags and notes", R"sql(
ALTER TABLE sweeps ADD COLUMN note TEXT NOT NULL DEFAULT '';
CREATE TABLE sweep_tags (
  sweep_seq INTEGER NOT NULL REFERENCES sweeps(seq) ON DELETE CASCADE,
  tag       TEXT NOT NULL,
  PRIMARY KEY (sweep_seq, tag)
) WITHOUT ROWID;
CREATE INDEX sweep_tags_by_tag ON sweep_tags (tag, sweep_seq);
)sql"},
};

absl::StatusOr<int> ReadIntPragma(Connection& conn, const char* pragma) {
  OPTBENCH_ASSIGN_OR_RETURN(std::string text, conn.QueryText(absl::StrCat("PRAGMA ", pragma)));
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InternalError(
        absl::StrFormat("pragma %s of %s is not an integer: '%s'", pragma, conn.path(), text));
  }
  return value;
}

}  // namespace

absl::Span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

absl::StatusOr<int> ReadSchemaVersion(Connection& conn) {
  absl::StatusOr<int> version = ReadIntPragma(conn, "user_version");
  if (version.status().code() == absl::StatusCode::kDataLoss) {
    // The first read of a file that is not a database fails with SQLITE_NOTADB.
    return absl::DataLossError(absl::StrFormat("%s is not a valid sqlite database: %s", conn.path(),
                                               version.status().message()));
  }
  return version;
}

absl::Status CheckSchema(Connection& conn, bool require_latest) {
  OPTBENCH_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(conn));
  OPTBENCH_ASSIGN_OR_RETURN(int application_id, ReadIntPragma(conn, "application_id"));
  const int latest = LatestSchemaVersion();
  if (application_id != 0 && application_id != kApplicationId) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not an optbench database (application_id %#x, expected %#x)",
                        conn.path(), application_id, kApplicationId));
  }
  if (version > latest) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "database %s has schema version %d, newer than version %d known to this binary; use a "
        "newer optbench",
        conn.path(), version, latest));
  }
  if (version == 0) {
    OPTBENCH_ASSIGN_OR_RETURN(
        std::string tables,
        conn.QueryText("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"));
    if (tables != "0") {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s is not an optbench database: it has %s tables but no schema version",
                          conn.path(), tables));
    }
  }
  if (require_latest && version < latest) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "database %s has schema version %d, this binary needs version %d; open it once "
        "writable (e.g. start the coordinator) to migrate it",
        conn.path(), version, latest));
  }
  return absl::OkStatus();
}

absl::Status Migrate(Connection& conn) {
  OPTBENCH_RETURN_IF_ERROR(CheckSchema(conn, /*require_latest=*/false));
  OPTBENCH_ASSIGN_OR_RETURN(const int initial_version, ReadSchemaVersion(conn));
  // Creating a new database is routine; upgrading one that holds data is worth a line in the log.
  const LogLevel level = initial_version == 0 ? LogLevel::kDebug : LogLevel::kInfo;
  for (const Migration& step : Migrations()) {
    OPTBENCH_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(conn, Transaction::Mode::kWrite));
    // Read again under the write lock: another process may have migrated meanwhile.
    OPTBENCH_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(conn));
    if (version >= step.version) continue;  // `txn` rolls back an empty transaction.
    if (version != step.version - 1) {
      return absl::InternalError(
          absl::StrFormat("database %s at schema version %d cannot take step %d", conn.path(),
                          version, step.version));
    }
    OPTBENCH_RETURN_IF_ERROR(conn.Exec(step.sql));
    OPTBENCH_RETURN_IF_ERROR(conn.Exec(absl::StrFormat("PRAGMA user_version = %d", step.version)));
    if (step.version == 1) {
      OPTBENCH_RETURN_IF_ERROR(
          conn.Exec(absl::StrFormat("PRAGMA application_id = %d", kApplicationId)));
    }
    OPTBENCH_RETURN_IF_ERROR(txn.Commit());
    Log(level, "storage", "%s: schema version %d (%s)", conn.path(), step.version,
        step.description);
  }
  return absl::OkStatus();
}

}  // namespace optbench::storage::internal
