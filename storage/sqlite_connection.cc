#include "storage/sqlite_connection.h"

#include <sqlite3.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/check.h"
#include "common/logging.h"

namespace optbench::storage::internal {

absl::StatusCode StatusCodeFromSqlite(int rc, int system_errno) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_CANTOPEN:
      if (system_errno == ENOENT || system_errno == ENOTDIR) return absl::StatusCode::kNotFound;
      if (system_errno == EACCES || system_errno == EPERM || system_errno == EROFS) {
        return absl::StatusCode::kPermissionDenied;
      }
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

// ---------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Statement&& other) noexcept
    : conn_(other.conn_), stmt_(other.stmt_), bind_status_(std::move(other.bind_status_)) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    // The return code of finalize repeats the last step's error, which was already reported.
    sqlite3_finalize(stmt_);
    conn_ = other.conn_;
    stmt_ = other.stmt_;
    bind_status_ = std::move(other.bind_status_);
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }  // See operator= on the return code.

void Statement::NoteBind(int rc, int index) {
  if (rc != SQLITE_OK && bind_status_.ok()) {
    bind_status_ = conn_->Error(
        rc, absl::StrFormat("binding parameter %d of '%s'", index, sqlite3_sql(stmt_)));
  }
}

void Statement::BindInt64(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value), index);
}

void Statement::BindText(int index, absl::string_view value) {
  NoteBind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

void Statement::BindBlob(int index, absl::string_view bytes) {
  // A non-null pointer is needed for a zero-length blob (a null one binds NULL).
  static const char kEmpty = 0;
  NoteBind(sqlite3_bind_blob64(stmt_, index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                               SQLITE_TRANSIENT),
           index);
}

void Statement::BindNull(int index) { NoteBind(sqlite3_bind_null(stmt_, index), index); }

void Statement::BindTime(int index, absl::Time value) {
  if (value == absl::InfinitePast()) {
    BindNull(index);
  } else {
    // ToUnixMicros saturates: InfiniteFuture() becomes INT64_MAX, which ColumnTime maps back.
    BindInt64(index, absl::ToUnixMicros(value));
  }
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return conn_->Error(rc, absl::StrCat("running '", sqlite3_sql(stmt_), "'"));
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

absl::Status Statement::Reset() {
  bind_status_ = absl::OkStatus();
  int rc = sqlite3_reset(stmt_);
  if (rc != SQLITE_OK) {
    return conn_->Error(rc, absl::StrCat("resetting '", sqlite3_sql(stmt_), "'"));
  }
  rc = sqlite3_clear_bindings(stmt_);
  if (rc != SQLITE_OK) {
    return conn_->Error(rc, absl::StrCat("clearing bindings of '", sqlite3_sql(stmt_), "'"));
  }
  return absl::OkStatus();
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);  // After _text, as SQLite requires.
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr) return std::string();
  return std::string(static_cast<const char*>(blob), static_cast<size_t>(size));
}

absl::string_view Statement::ColumnBlobView(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr) return absl::string_view();
  return absl::string_view(static_cast<const char*>(blob), static_cast<size_t>(size));
}

absl::Time Statement::ColumnTime(int column) const {
  if (IsNull(column)) return absl::InfinitePast();
  int64_t micros = ColumnInt64(column);
  if (micros == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  return absl::FromUnixMicros(micros);
}

// ---------------------------------------------------------------------------------------------
// Connection

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int flags,
                                                             absl::Duration busy_timeout) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  // sqlite3_open_v2 returns a handle even on failure (except out of memory); it must be closed.
  std::unique_ptr<Connection> conn(new Connection(db, path));
  if (db == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory opening sqlite database ", path));
  }
  if (rc != SQLITE_OK) {
    return absl::Status(
        StatusCodeFromSqlite(rc, sqlite3_system_errno(db)),
        absl::StrFormat("cannot open sqlite database %s: %s", path, sqlite3_errmsg(db)));
  }
  rc = sqlite3_extended_result_codes(db, 1);
  if (rc != SQLITE_OK) return conn->Error(rc, "enabling extended result codes");
  int64_t millis = absl::ToInt64Milliseconds(busy_timeout);
  if (millis > std::numeric_limits<int>::max()) millis = std::numeric_limits<int>::max();
  rc = sqlite3_busy_timeout(db, static_cast<int>(millis));
  if (rc != SQLITE_OK) return conn->Error(rc, "setting the busy timeout");
  return conn;
}

Connection::~Connection() {
  if (db_ == nullptr) return;
  // SQLITE_BUSY here means a statement outlived its connection: a bug in storage/, not input.
  int rc = sqlite3_close(db_);
  OPTBENCH_CHECK(rc == SQLITE_OK);
}

absl::Status Connection::Exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return absl::Status(StatusCodeFromSqlite(rc, sqlite3_system_errno(db_)),
                      absl::StrFormat("sqlite error %d (%s) running '%s' on %s", rc, text,
                                      sql.substr(0, 120), path_));
}

absl::StatusOr<Statement> Connection::Prepare(absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Error(rc, absl::StrCat("preparing '", sql.substr(0, 120), "'"));
  }
  if (stmt == nullptr) return absl::InternalError(absl::StrCat("empty sql statement: '", sql, "'"));
  return Statement(this, stmt);
}

absl::StatusOr<std::string> Connection::QueryText(absl::string_view sql) {
  absl::StatusOr<Statement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat("'", sql, "' returned no row on ", path_));
  std::string value = stmt->ColumnText(0);
  absl::Status done = stmt->Run();
  if (!done.ok()) return done;
  return value;
}

absl::Status Connection::Error(int rc, absl::string_view what) const {
  // sqlite3_errmsg describes the most recent failure on this connection; fall back to the
  // generic text when that is not the one we are reporting.
  const char* text = (db_ != nullptr && sqlite3_extended_errcode(db_) == rc) ? sqlite3_errmsg(db_)
                                                                             : sqlite3_errstr(rc);
  int system_errno = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
  return absl::Status(StatusCodeFromSqlite(rc, system_errno),
                      absl::StrFormat("sqlite error %d (%s) %s on %s", rc, text, what, path_));
}

int64_t Connection::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

bool Connection::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

bool Connection::IsReadOnly() const { return sqlite3_db_readonly(db_, "main") == 1; }

// ---------------------------------------------------------------------------------------------
// Transaction

absl::StatusOr<Transaction> Transaction::Begin(Connection& conn, Mode mode) {
  absl::Status status = conn.Exec(mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!status.ok()) return status;
  return Transaction(&conn);
}

Transaction::~Transaction() {
  // SQLite rolls back on its own after some errors (full disk, I/O, busy during commit); a
  // second ROLLBACK would fail with "no transaction is active".
  if (conn_ == nullptr || !conn_->InTransaction()) return;
  absl::Status status = conn_->Exec("ROLLBACK");
  if (!status.ok()) {
    Log(LogLevel::kError, "storage", "rollback failed: %s", status.ToString());
  }
}

absl::Status Transaction::Commit() {
  OPTBENCH_CHECK(conn_ != nullptr);
  absl::Status status = conn_->Exec("COMMIT");
  // On failure the destructor rolls back whatever is still open.
  if (status.ok()) conn_ = nullptr;
  return status;
}

}  // namespace optbench::storage::internal
