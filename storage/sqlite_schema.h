// Internal to storage/: the SQLite schema of SqliteStore as an ordered list of migrations, and the
// code that checks a database's version and brings it up to date.
#ifndef OPTBENCH_STORAGE_SQLITE_SCHEMA_H_
#define OPTBENCH_STORAGE_SQLITE_SCHEMA_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "storage/sqlite_connection.h"

namespace optbench::storage::internal {

// One schema step: `sql` takes a database at version `version - 1` to `version`. Steps are
// append-only: a released step is never edited, a change is a new step.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// All steps, in order; versions are 1, 2, ... without gaps.
absl::Span<const Migration> Migrations();
// The version this binary writes and reads (the last step's).
int LatestSchemaVersion();

// Stored in the database header (PRAGMA application_id) so another program's SQLite file is
// recognised as such: "OPB1".
inline constexpr int kApplicationId = 0x4f504231;

// PRAGMA user_version. DataLoss naming the path if the file is not a SQLite database.
absl::StatusOr<int> ReadSchemaVersion(Connection& conn);

// Checks that `conn` holds an optbench database this binary can use. FailedPrecondition if its
// version is newer than LatestSchemaVersion() (naming both), if it belongs to another application,
// or, when `require_latest`, if it is older (a read-only store cannot migrate). DataLoss if the
// file is not a SQLite database.
absl::Status CheckSchema(Connection& conn, bool require_latest);

// Applies the missing steps, each in its own BEGIN IMMEDIATE transaction that also sets
// user_version, so a crash leaves the database at a step boundary and two processes opening the
// same file at once apply each step once. Calls CheckSchema(conn, false) first.
absl::Status Migrate(Connection& conn);

}  // namespace optbench::storage::internal

#endif  // OPTBENCH_STORAGE_SQLITE_SCHEMA_H_
