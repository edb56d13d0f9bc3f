// Internal to storage/: RAII wrappers over sqlite3 and sqlite3_stmt that turn every SQLite return
// code into an absl::Status. Not part of the public storage API; only storage/ and its tests use
// it.
#ifndef OPTBENCH_STORAGE_SQLITE_CONNECTION_H_
#define OPTBENCH_STORAGE_SQLITE_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace optbench::storage::internal {

class Connection;

// Maps a SQLite result code to the most specific absl code: BUSY/LOCKED -> Unavailable,
// CORRUPT/NOTADB -> DataLoss, FULL -> ResourceExhausted, CANTOPEN -> NotFound/PermissionDenied
// (by errno), READONLY/PERM -> PermissionDenied, everything else -> Internal.
absl::StatusCode StatusCodeFromSqlite(int rc, int system_errno);

// One prepared statement. Owns the sqlite3_stmt (finalized on destruction); must not outlive the
// Connection that prepared it. Not thread-safe: used by the thread that holds the connection.
// Bind errors are remembered and reported by the next Step(), so call sites stay linear.
class Statement {
 public:
  Statement(Connection* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite.
  void BindInt64(int index, int64_t value);
  void BindText(int index, absl::string_view value);
  void BindBlob(int index, absl::string_view bytes);  // Empty -> a zero-length blob.
  void BindNull(int index);
  // absl::InfinitePast() -> NULL; InfiniteFuture() -> INT64_MAX; else unix microseconds
  // (sub-microsecond parts are truncated toward the past).
  void BindTime(int index, absl::Time value);

  // Runs one step. true: a row is available; false: done. Errors carry the SQL and the path.
  absl::StatusOr<bool> Step();
  // Steps to completion, ignoring rows; for INSERT/UPDATE/DELETE.
  absl::Status Run();
  // Makes the statement reusable with new bindings.
  absl::Status Reset();

  // Columns are 0-based. NULL reads as 0 / "" / InfinitePast().
  bool IsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  // The blob in place, without a copy: valid until the next Step, Reset or destruction.
  absl::string_view ColumnBlobView(int column) const;
  absl::Time ColumnTime(int column) const;

 private:
  void NoteBind(int rc, int index);

  Connection* conn_;
  sqlite3_stmt* stmt_;
  absl::Status bind_status_;
};

// One sqlite3 connection. Owns the handle (closed on destruction; every Statement must be gone by
// then). Opened without SQLite's own mutex (SQLITE_OPEN_NOMUTEX): the owner guarantees that one
// thread at a time uses a connection and its statements.
class Connection {
 public:
  // `flags` are sqlite3_open_v2 flags; SQLITE_OPEN_NOMUTEX is added. Enables extended result
  // codes and sets the busy timeout. Errors name `path`.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, int flags,
                                                          absl::Duration busy_timeout);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements that return no rows we need (DDL, PRAGMA setters, BEGIN...).
  absl::Status Exec(const std::string& sql);
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // Runs `sql` (one statement) and returns the first column of its first row; for PRAGMA reads.
  absl::StatusOr<std::string> QueryText(absl::string_view sql);

  // A status for result code `rc`, with SQLite's error message, `what` and the path.
  absl::Status Error(int rc, absl::string_view what) const;
  // The rowid of the last successful INSERT on this connection.
  int64_t LastInsertRowid() const;
  // Rows changed by the last INSERT, UPDATE or DELETE (sqlite3_changes64).
  int64_t Changes() const;
  // True while a transaction is open.
  bool InTransaction() const;
  // True if SQLite opened the file read-only (asked for, or the file is not writable).
  bool IsReadOnly() const;

  const std::string& path() const { return path_; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
};

// A transaction on one connection: BEGIN (deferred; a consistent read snapshot in WAL mode) or
// BEGIN IMMEDIATE (takes the write lock at once, so read-then-write sequences such as claiming a
// job cannot race with another connection). Rolled back on destruction unless committed.
class Transaction {
 public:
  enum class Mode { kRead, kWrite };
  static absl::StatusOr<Transaction> Begin(Connection& conn, Mode mode);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;  // Null once committed or rolled back.
};

}  // namespace optbench::storage::internal

#endif  // OPTBENCH_STORAGE_SQLITE_CONNECTION_H_
