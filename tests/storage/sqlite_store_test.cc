#include "storage/sqlite_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_connection.h"
#include "storage/sqlite_schema.h"
#include "tests/testing/status_matchers.h"

namespace optbench::storage {
namespace {

using ::optbench::testing::IsOk;
using ::optbench::testing::IsOkAndHolds;
using ::optbench::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000) + absl::Microseconds(123'456);
const absl::Duration kLease = absl::Seconds(30);

// Stand-ins for the lifecycle's decisions (server/job_lifecycle.h, tested there and through the
// Scheduler). The store knows no rule; these make the changes its tests need, so that the store's
// own mechanics (selection, atomicity, what it writes) are tested alone.

// Refuses with FailedPrecondition unless the job is RUNNING under `token` (empty `token`: never
// refuses), then applies `change`.
JobDecision Holding(
    const std::string& token, std::function<void(JobUpdate&)> change = [](JobUpdate&) {}) {
  return [token, change](const JobRecord& job) -> absl::StatusOr<JobUpdate> {
    if (!token.empty() && (job.state != JobState::kRunning || job.lease_token != token)) {
      return absl::FailedPreconditionError(absl::StrCat("test: not holding job ", job.id));
    }
    JobUpdate update = JobUpdate::Of(job);
    change(update);
    return update;
  };
}

// RUNNING under a new lease of `worker`, from `now` for kLease; attempt + 1.
JobDecision ClaimFor(const std::string& worker, absl::Time now) {
  return Holding("", [worker, now](JobUpdate& u) {
    u.state = JobState::kRunning;
    u.attempt += 1;
    u.worker_id = worker;
    u.lease_token = absl::StrCat(worker, "-lease-", u.attempt, "-", absl::ToUnixMicros(now));
    u.lease_expires_at = now + kLease;
    u.started_at = now;
    u.progress_step = 0;
  });
}

// Holding `token`: the lease extended to `expires`, progress recorded.
JobDecision Renewing(const std::string& token, absl::Time expires, int64_t progress) {
  return Holding(token, [expires, progress](JobUpdate& u) {
    u.lease_expires_at = expires;
    u.progress_step = progress;
  });
}

// Holding `token` (if any): `state` at `now`, the lease cleared.
JobDecision Ending(const std::string& token, JobState state, absl::Time now,
                   const std::string& error = "") {
  return Holding(token, [state, now, error](JobUpdate& u) {
    u.state = state;
    u.error = error;
    u.finished_at = now;
    u.lease_token.clear();
    u.lease_expires_at = absl::InfinitePast();
  });
}

// Back to the queue, the lease cleared.
JobDecision Requeueing() {
  return Holding("", [](JobUpdate& u) {
    u.state = JobState::kQueued;
    u.lease_token.clear();
    u.lease_expires_at = absl::InfinitePast();
  });
}

JobSelection Queued(int64_t limit = 0) {
  JobSelection selection;
  selection.states = {JobState::kQueued};
  selection.limit = limit;
  return selection;
}

// The first queued job in claim order, claimed for `worker`; nullopt when none is queued.
absl::StatusOr<std::optional<JobRecord>> Claim(Store& store, const std::string& worker,
                                               absl::Time now) {
  absl::StatusOr<std::vector<JobRecord>> claimed =
      store.UpdateJobs(Queued(/*limit=*/1), ClaimFor(worker, now));
  if (!claimed.ok()) return claimed.status();
  if (claimed->empty()) return std::nullopt;
  return claimed->front();
}

// The schema of version 1 exactly as it shipped, frozen here so the upgrade path from real
// version-1 files stays tested after storage/sqlite_schema.cc moves on.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE sweeps (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  source TEXT NOT NULL, created_at INTEGER, num_jobs INTEGER NOT NULL);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, sweep_seq INTEGER NOT NULL REFERENCES sweeps(seq), idx INTEGER NOT NULL,
  spec BLOB NOT NULL, summary_json TEXT NOT NULL,
  state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 6), attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1), worker_id TEXT NOT NULL DEFAULT '',
  lease_token TEXT NOT NULL DEFAULT '', lease_expires_at INTEGER,
  progress_step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
  created_at INTEGER, started_at INTEGER, finished_at INTEGER,
  num_classes INTEGER NOT NULL DEFAULT 0, train_class_counts BLOB NOT NULL DEFAULT x'',
  test_class_counts BLOB NOT NULL DEFAULT x'');
CREATE UNIQUE INDEX jobs_by_sweep ON jobs (sweep_seq, idx);
CREATE TABLE metrics (
  job_id TEXT NOT NULL REFERENCES jobs(id), step INTEGER NOT NULL, split TEXT NOT NULL,
  metric TEXT NOT NULL, vals BLOB NOT NULL,
  PRIMARY KEY (job_id, step, split, metric)) WITHOUT ROWID;
PRAGMA application_id = 1330659889;
PRAGMA user_version = 1;
)sql";

// A raw SQLite connection for building and inspecting files behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db_);
  }
  ~RawDb() { EXPECT_EQ(sqlite3_close(db_), SQLITE_OK); }

  void Exec(const std::string& sql) {
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "") << " in " << sql;
    sqlite3_free(error);
  }

  std::string QueryText(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) value = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::vector<NewJob> MakeJobs(int n, int32_t max_attempts = 3) {
  std::vector<NewJob> jobs;
  for (int i = 0; i < n; ++i) {
    NewJob job;
    job.spec = std::string("spec\0bytes-", 11) + std::to_string(i);
    job.summary_json = absl::StrCat("{\"seed\":", i, "}");
    job.total_steps = 100 + i;
    job.max_attempts = max_attempts;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

MetricRow Row(const std::string& job_id, int64_t step, const std::string& split,
              const std::string& metric, std::vector<double> values) {
  MetricRow row;
  row.job_id = job_id;
  row.step = step;
  row.split = split;
  row.metric = metric;
  row.values = std::move(values);
  return row;
}

uint64_t Bits(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  return bits;
}

double FromBits(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

int64_t CountOf(const std::vector<std::pair<JobState, int64_t>>& counts, JobState state) {
  for (const auto& [s, n] : counts) {
    if (s == state) return n;
  }
  return -1;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "sqlite_store_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string Path(const std::string& name = "optbench.db") const {
    return (std::filesystem::path(dir_) / name).string();
  }

  static std::unique_ptr<SqliteStore> OpenOrDie(const std::string& path,
                                                const SqliteStoreOptions& options = {}) {
    auto store = SqliteStore::Open(path, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // For tests of one running job: an in-memory store with a two-job sweep whose first job is
  // claimed by "w1" at kT0.
  void OpenAndClaim() {
    store_ = OpenOrDie(":memory:");
    ASSERT_NE(store_, nullptr);
    ASSERT_OK_AND_ASSIGN(sweep_, store_->CreateSweep("sweep", "", MakeJobs(2), kT0));
    ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store_, "w1", kT0));
    ASSERT_TRUE(job.has_value());
    job_ = *job;
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  SweepRecord sweep_;
  JobRecord job_;
};

// ---------------------------------------------------------------------------------------------
// Opening and migrations

TEST_F(SqliteStoreTest, FreshDatabaseGetsLatestSchemaVersion) {
  ASSERT_GE(SqliteStore::LatestSchemaVersion(), 2);
  { ASSERT_NE(OpenOrDie(Path()), nullptr); }
  RawDb raw(Path());
  EXPECT_EQ(raw.QueryText("PRAGMA user_version"),
            std::to_string(SqliteStore::LatestSchemaVersion()));
  EXPECT_EQ(raw.QueryText("PRAGMA application_id"), "1330659889");
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM sqlite_schema WHERE name = 'jobs_by_state'"), "1");
  // Metrics are keyed by (job, step, split, metric) without a rowid.
  EXPECT_THAT(raw.QueryText("SELECT sql FROM sqlite_schema WHERE name = 'metrics'"),
              HasSubstr("WITHOUT ROWID"));
}

TEST_F(SqliteStoreTest, UpgradesVersion1Database) {
  {
    RawDb raw(Path());
    raw.Exec(kSchemaV1);
    raw.Exec(
        "INSERT INTO sweeps (seq, id, name, source, created_at, num_jobs) "
        "VALUES (1, 's-0000abcd', 'old', '', 1700000000000000, 1);"
        "INSERT INTO jobs (id, sweep_seq, idx, spec, summary_json, state, max_attempts, "
        "total_steps, created_at) VALUES ('s-0000abcd-0', 1, 0, x'0102', '{}', 1, 2, 10, "
        "1700000000000000);"
        "INSERT INTO metrics VALUES ('s-0000abcd-0', 5, 'test', 'loss', "
        "x'000000000000f03f');");  // 1.0 as little-endian float64.
  }
  auto store = OpenOrDie(Path());
  ASSERT_NE(store, nullptr);
  {
    RawDb raw(Path());
    EXPECT_EQ(raw.QueryText("PRAGMA user_version"),
              std::to_string(SqliteStore::LatestSchemaVersion()));
  }
  ASSERT_OK_AND_ASSIGN(JobRecord job, store->GetJob("s-0000abcd-0"));
  EXPECT_EQ(job.sweep_id, "s-0000abcd");
  EXPECT_EQ(job.spec, std::string("\x01\x02"));
  EXPECT_EQ(job.max_attempts, 2);
  EXPECT_EQ(job.created_at, absl::FromUnixSeconds(1'700'000'000));
  MetricQuery query;
  query.job_ids = {job.id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].values, ElementsAre(1.0));
  // Version 2 added the workers table and the claim index.
  WorkerRecord worker{"w1", "host", 2, kT0};
  ASSERT_OK(store->UpsertWorker(worker));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> claimed, Claim(*store, "w1", kT0));
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->id, "s-0000abcd-0");
  // New sweeps order after the old one.
  ASSERT_OK_AND_ASSIGN(SweepRecord sweep, store->CreateSweep("new", "", MakeJobs(1), kT0));
  ASSERT_OK_AND_ASSIGN(std::vector<SweepRecord> sweeps, store->ListSweeps(10));
  ASSERT_EQ(sweeps.size(), 2u);
  EXPECT_EQ(sweeps[0].id, sweep.id);
  EXPECT_EQ(sweeps[1].id, "s-0000abcd");
}

TEST_F(SqliteStoreTest, RefusesNewerSchemaVersion) {
  { ASSERT_NE(OpenOrDie(Path()), nullptr); }
  { RawDb(Path()).Exec("PRAGMA user_version = 99"); }
  auto store = SqliteStore::Open(Path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("99"));
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr(absl::StrCat("version ", SqliteStore::LatestSchemaVersion())));
  EXPECT_EQ(RawDb(Path()).QueryText("PRAGMA user_version"), "99");  // Untouched.
}

TEST_F(SqliteStoreTest, RefusesFileThatIsNotADatabase) {
  {
    std::ofstream file(Path("notes.db"));
    file << "this is a text file, not a sqlite database\n" << std::string(4096, 'x');
  }
  for (bool read_only : {false, true}) {
    SqliteStoreOptions options;
    options.read_only = read_only;
    auto store = SqliteStore::Open(Path("notes.db"), options);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(Path("notes.db")));
  }
}

TEST_F(SqliteStoreTest, RefusesAnotherApplicationsDatabase) {
  { RawDb(Path()).Exec("CREATE TABLE customers (id INTEGER PRIMARY KEY)"); }
  auto store = SqliteStore::Open(Path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_EQ(RawDb(Path()).QueryText("PRAGMA user_version"), "0");
}

TEST_F(SqliteStoreTest, OpenValidatesArguments) {
  SqliteStoreOptions bad_pool;
  bad_pool.read_connections = -1;
  SqliteStoreOptions big_pool;
  big_pool.read_connections = 65;
  SqliteStoreOptions bad_timeout;
  bad_timeout.busy_timeout = absl::Seconds(-1);
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  EXPECT_EQ(SqliteStore::Open("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStore::Open(Path(), bad_pool).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStore::Open(Path(), big_pool).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStore::Open(Path(), bad_timeout).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStore::Open(":memory:", read_only).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = SqliteStore::Open(Path("missing.db"), read_only);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_FALSE(std::filesystem::exists(Path("missing.db")));
}

TEST_F(SqliteStoreTest, ReadOnlyRefusesOldSchemaWithoutMigrating) {
  { RawDb(Path()).Exec(kSchemaV1); }
  SqliteStoreOptions options;
  options.read_only = true;
  auto store = SqliteStore::Open(Path(), options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_EQ(RawDb(Path()).QueryText("PRAGMA user_version"), "1");
}

// ---------------------------------------------------------------------------------------------
// Sweeps and jobs

TEST_F(SqliteStoreTest, CreateSweepStoresEveryJob) {
  auto store = OpenOrDie(":memory:");
  ASSERT_OK_AND_ASSIGN(SweepRecord sweep,
                       store->CreateSweep("adam", "optimizer: adam\n", MakeJobs(3, 2), kT0));
  EXPECT_THAT(sweep.id, MatchesRegex("s-[0-9a-f]{8}"));
  EXPECT_EQ(sweep.name, "adam");
  EXPECT_EQ(sweep.source, "optimizer: adam\n");
  EXPECT_EQ(sweep.created_at, kT0);
  EXPECT_EQ(sweep.num_jobs, 3);
  ASSERT_OK_AND_ASSIGN(SweepRecord again, store->GetSweep(sweep.id));
  EXPECT_EQ(again.id, sweep.id);
  EXPECT_EQ(again.created_at, kT0);

  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(JobRecord job, store->GetJob(absl::StrCat(sweep.id, "-", i)));
    EXPECT_EQ(job.sweep_id, sweep.id);
    EXPECT_EQ(job.index, i);
    EXPECT_EQ(job.spec, MakeJobs(3)[i].spec);  // Embedded NUL survives.
    EXPECT_EQ(job.summary_json, MakeJobs(3)[i].summary_json);
    EXPECT_EQ(job.state, JobState::kQueued);
    EXPECT_EQ(job.attempt, 0);
    EXPECT_EQ(job.max_attempts, 2);
    EXPECT_EQ(job.total_steps, 100 + i);
    EXPECT_EQ(job.created_at, kT0);
    EXPECT_EQ(job.lease_expires_at, absl::InfinitePast());
    EXPECT_EQ(job.started_at, absl::InfinitePast());
    EXPECT_EQ(job.finished_at, absl::InfinitePast());
    EXPECT_TRUE(job.worker_id.empty());
    EXPECT_TRUE(job.lease_token.empty());
    EXPECT_TRUE(job.train_class_counts.empty());
  }
}

TEST_F(SqliteStoreTest, CreateSweepIsAllOrNothing) {
  auto store = OpenOrDie(":memory:");
  auto empty = store->CreateSweep("empty", "", {}, kT0);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<NewJob> jobs = MakeJobs(5);
  jobs[3].max_attempts = 0;
  auto bad = store->CreateSweep("bad", "", jobs, kT0);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("job 3"));
  ASSERT_OK_AND_ASSIGN(std::vector<SweepRecord> sweeps, store->ListSweeps(100));
  EXPECT_TRUE(sweeps.empty());
  ASSERT_OK_AND_ASSIGN(auto counts, store->CountJobs(""));
  for (const auto& [state, n] : counts) EXPECT_EQ(n, 0) << JobStateName(state);
}

TEST_F(SqliteStoreTest, UnknownIdsAreNotFound) {
  auto store = OpenOrDie(":memory:");
  EXPECT_EQ(store->GetSweep("s-00000000").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetJob("s-00000000-0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->CountJobs("s-00000000").status().code(), absl::StatusCode::kNotFound);
  JobFilter filter;
  filter.sweep_id = "s-00000000";
  EXPECT_EQ(store->ListJobs(filter).status().code(), absl::StatusCode::kNotFound);
  // Every method that decides about a job: NotFound before any decision is asked.
  const std::string job = "s-00000000-0";
  const JobDecision never = [](const JobRecord&) -> absl::StatusOr<JobUpdate> {
    ADD_FAILURE() << "decision asked about an unknown job";
    return absl::InternalError("unreachable");
  };
  const auto not_found = StatusIs(absl::StatusCode::kNotFound, "job s-00000000-0 not found");
  EXPECT_THAT(store->UpdateJob(job, never), not_found);
  EXPECT_THAT(store->AppendMetrics(job, {}, never), not_found);
  EXPECT_THAT(store->SetDatasetInfo(job, 1, {}, {}, "", never), not_found);
  EXPECT_THAT(store->SaveCheckpoint(job, 1, "x", 1, never), not_found);
  EXPECT_THAT(store->LoadCheckpoint(job, 1, never), not_found);
  JobSelection unknown_sweep;
  unknown_sweep.sweep_id = "s-00000000";
  EXPECT_THAT(store->UpdateJobs(unknown_sweep, never),
              StatusIs(absl::StatusCode::kNotFound, "sweep s-00000000 not found"));
}

TEST_F(SqliteStoreTest, ListSweepsNewestFirstUpToLimit) {
  auto store = OpenOrDie(":memory:");
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    // Same timestamp: creation order, not the clock, decides.
    ASSERT_OK_AND_ASSIGN(SweepRecord s,
                         store->CreateSweep(absl::StrCat("s", i), "", MakeJobs(1), kT0));
    ids.push_back(s.id);
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 4u);
  ASSERT_OK_AND_ASSIGN(std::vector<SweepRecord> sweeps, store->ListSweeps(3));
  ASSERT_EQ(sweeps.size(), 3u);
  EXPECT_EQ(sweeps[0].id, ids[3]);
  EXPECT_EQ(sweeps[1].id, ids[2]);
  EXPECT_EQ(sweeps[2].id, ids[1]);
  EXPECT_EQ(store->ListSweeps(0).status().code(), absl::StatusCode::kInvalidArgument);
}

// Claiming is UpdateJobs over the first queued job: jobs come in claim order, oldest sweep first.
TEST_F(SqliteStoreTest, UpdateJobsVisitsJobsOldestSweepThenIndex) {
  auto store = OpenOrDie(":memory:");
  ASSERT_OK_AND_ASSIGN(SweepRecord a, store->CreateSweep("a", "", MakeJobs(3), kT0));
  // A later sweep with an earlier clock reading still comes second.
  ASSERT_OK_AND_ASSIGN(SweepRecord b,
                       store->CreateSweep("b", "", MakeJobs(2), kT0 - absl::Hours(1)));
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    const absl::Time now = kT0 + absl::Seconds(i);
    ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store, "w1", now));
    ASSERT_TRUE(job.has_value());
    // What the decision wrote, read back.
    EXPECT_EQ(job->state, JobState::kRunning);
    EXPECT_EQ(job->attempt, 1);
    EXPECT_EQ(job->worker_id, "w1");
    EXPECT_EQ(job->lease_token, absl::StrCat("w1-lease-1-", absl::ToUnixMicros(now)));
    EXPECT_EQ(job->lease_expires_at, now + kLease);
    EXPECT_EQ(job->started_at, now);
    order.push_back(job->id);
  }
  EXPECT_THAT(order, ElementsAre(a.id + "-0", a.id + "-1", a.id + "-2", b.id + "-0", b.id + "-1"));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> none, Claim(*store, "w1", kT0));
  EXPECT_FALSE(none.has_value());

  // Every job, or one sweep's, or some states', in the same order; limit takes the first ones.
  std::vector<std::string> seen;
  auto record = [&seen](const JobRecord& job) -> absl::StatusOr<JobUpdate> {
    seen.push_back(job.id);
    return JobUpdate::Of(job);
  };
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> changed, store->UpdateJobs({}, record));
  EXPECT_THAT(changed, IsEmpty());  // Nothing changed, nothing returned.
  EXPECT_EQ(seen, order);
  seen.clear();
  JobSelection of_b;
  of_b.sweep_id = b.id;
  ASSERT_OK(store->UpdateJobs(of_b, record));
  EXPECT_THAT(seen, ElementsAre(b.id + "-0", b.id + "-1"));
  seen.clear();
  ASSERT_OK(store->UpdateJobs(Queued(), record));
  EXPECT_THAT(seen, IsEmpty());  // Every job is running.
  JobSelection live;
  live.states = {JobState::kQueued, JobState::kRunning};
  ASSERT_OK(store->UpdateJobs(live, record));
  EXPECT_EQ(seen, order);
  seen.clear();
  JobSelection two;
  two.limit = 2;
  ASSERT_OK(store->UpdateJobs(two, record));
  EXPECT_THAT(seen, ElementsAre(a.id + "-0", a.id + "-1"));
  two.limit = -1;
  EXPECT_THAT(store->UpdateJobs(two, record), StatusIs(absl::StatusCode::kInvalidArgument,
                                                       "job selection limit must be >= 0, got -1"));
}

TEST_F(SqliteStoreTest, ConcurrentClaimsTakeEachJobExactlyOnce) {
  // Two stores on one file (two writer connections, as two processes would have) and two threads
  // on each: in-process locking and BEGIN IMMEDIATE between connections are both exercised.
  constexpr int kJobs = 200;
  auto first = OpenOrDie(Path());
  auto second = OpenOrDie(Path());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(SweepRecord sweep, first->CreateSweep("many", "", MakeJobs(kJobs), kT0));
  std::mutex mu;  // Not absl::Mutex: Debian's Abseil is not built with TSan annotations.
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    SqliteStore* store = t % 2 == 0 ? first.get() : second.get();
    threads.emplace_back([&, store, t] {
      const std::string worker = absl::StrCat("w", t);
      while (true) {
        auto job = Claim(*store, worker, kT0);
        if (!job.ok()) {
          ++errors;
          ADD_FAILURE() << job.status();
          return;
        }
        if (!job->has_value()) return;
        std::lock_guard<std::mutex> lock(mu);
        claimed.push_back((*job)->id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(),
            static_cast<size_t>(kJobs));
  ASSERT_OK_AND_ASSIGN(auto counts, first->CountJobs(sweep.id));
  EXPECT_EQ(CountOf(counts, JobState::kRunning), kJobs);
  EXPECT_EQ(CountOf(counts, JobState::kQueued), 0);
  JobFilter filter;
  filter.page_size = 1000;
  ASSERT_OK_AND_ASSIGN(JobPage page, second->ListJobs(filter));
  for (const JobRecord& job : page.jobs) EXPECT_EQ(job.attempt, 1) << job.id;
}

// ---------------------------------------------------------------------------------------------
// Metrics

TEST_F(SqliteStoreTest, AppendMetricsUpsertIsIdempotent) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  ASSERT_OK(store_->AppendMetrics(job_.id,
                                  {Row(job_.id, 10, "test", "loss", {1.0, 2.0, 3.0}),
                                   Row(job_.id, 10, "test", "accuracy", {0.5})},
                                  Holding(job_.lease_token)));
  // The same key again (and twice in one batch): one row, the last value.
  ASSERT_OK(store_->AppendMetrics(
      job_.id,
      {Row(job_.id, 10, "test", "loss", {9.0}), Row(job_.id, 10, "test", "loss", {4.0, 5.0, 6.0})},
      Holding(job_.lease_token)));
  MetricQuery query;
  query.job_ids = {job_.id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store_->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].metric, "accuracy");
  EXPECT_THAT(rows[0].values, ElementsAre(0.5));
  EXPECT_EQ(rows[1].metric, "loss");
  EXPECT_EQ(rows[1].job_id, job_.id);
  EXPECT_EQ(rows[1].step, 10);
  EXPECT_EQ(rows[1].split, "test");
  EXPECT_THAT(rows[1].values, ElementsAre(4.0, 5.0, 6.0));
}

TEST_F(SqliteStoreTest, PackedValuesRoundTripBitExactly) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  std::vector<double> special = {
      0.0,
      -0.0,
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      FromBits(0x7ff8000000000123ull),  // Quiet NaN with a payload.
      FromBits(0xfff8000000000abcull),  // Negative quiet NaN with a payload.
      std::numeric_limits<double>::denorm_min(),
      -std::numeric_limits<double>::denorm_min(),
      FromBits(0x000fffffffffffffull),  // Largest denormal.
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::lowest(),
      std::numeric_limits<double>::epsilon(),
      1.0 / 3.0,
  };
  std::mt19937_64 rng(42);
  std::vector<double> wide(50'000);
  for (double& v : wide) v = FromBits(rng());  // Arbitrary bit patterns, NaNs included.
  ASSERT_OK(store_->AppendMetrics(
      job_.id,
      {Row(job_.id, 0, "train", "special", special), Row(job_.id, 0, "train", "wide", wide)},
      Holding(job_.lease_token)));
  MetricQuery query;
  query.job_ids = {job_.id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store_->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].values.size(), special.size());
  for (size_t i = 0; i < special.size(); ++i) {
    EXPECT_EQ(Bits(rows[0].values[i]), Bits(special[i])) << "index " << i;
  }
  ASSERT_EQ(rows[1].values.size(), wide.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < wide.size(); ++i) mismatches += Bits(rows[1].values[i]) != Bits(wide[i]);
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(SqliteStoreTest, PackedValuesAreLittleEndianFloat64) {
  // Pins the on-disk format other tools (Python, sqlite3 CLI) rely on.
  auto store = OpenOrDie(Path());
  ASSERT_OK(store->CreateSweep("s", "", MakeJobs(1), kT0).status());
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store, "w", kT0));
  ASSERT_OK(store->AppendMetrics(job.value().id,
                                 {Row(job.value().id, 1, "test", "loss", {1.0, -2.0})},
                                 Holding(job.value().lease_token)));
  store.reset();
  EXPECT_EQ(RawDb(Path()).QueryText("SELECT hex(vals) FROM metrics"),
            "000000000000F03F00000000000000C0");
}

TEST_F(SqliteStoreTest, AppendMetricsRejectsBadRowsAndWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  const std::vector<std::vector<MetricRow>> bad_batches = {
      {Row(job_.id, 1, "test", "loss", {1.0}), Row("other-job", 1, "test", "loss", {1.0})},
      {Row(job_.id, 1, "test", "loss", {1.0}), Row(job_.id, 1, "", "loss", {1.0})},
      {Row(job_.id, 1, "test", "loss", {1.0}), Row(job_.id, 1, "test", "", {1.0})},
      {Row(job_.id, 1, "test", "loss", {1.0}), Row(job_.id, 1, "test", "loss", {})},
      {Row(job_.id, 1, "test", "loss", {1.0}), Row(job_.id, -1, "test", "loss", {1.0})},
  };
  for (const auto& batch : bad_batches) {
    EXPECT_THAT(store_->AppendMetrics(job_.id, batch, Holding(job_.lease_token)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  MetricQuery query;
  query.job_ids = {job_.id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store_->ReadMetrics(query));
  EXPECT_TRUE(rows.empty());
}

// One transaction for a metric batch and its decision (the scheduler's lease renewal): both or
// neither.
TEST_F(SqliteStoreTest, AppendMetricsAndItsDecisionAreAllOrNothing) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  const absl::Time later = kT0 + absl::Seconds(3);
  ASSERT_OK_AND_ASSIGN(JobRecord renewed,
                       store_->AppendMetrics(job_.id, {Row(job_.id, 4, "train", "loss", {0.5})},
                                             Renewing(job_.lease_token, later + kLease, 4)));
  EXPECT_FALSE(renewed.cancel_requested);
  EXPECT_EQ(renewed.lease_expires_at, later + kLease);  // Returned as written...
  ASSERT_OK_AND_ASSIGN(JobRecord stored, store_->GetJob(job_.id));
  EXPECT_EQ(stored.lease_expires_at, later + kLease);  // ...and stored.
  EXPECT_EQ(stored.progress_step, 4);
  MetricQuery query;
  query.job_ids = {job_.id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store_->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].values, std::vector<double>{0.5});

  // A bad row: nothing written, the lease not renewed.
  const absl::Time even_later = later + absl::Seconds(3);
  EXPECT_THAT(store_->AppendMetrics(job_.id,
                                    {Row(job_.id, 5, "train", "loss", {0.4}),
                                     Row(job_.id, -5, "train", "loss", {0.4})},
                                    Renewing(job_.lease_token, even_later + kLease, 5)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A row found bad only inside the transaction (too many classes), after the decision was
  // written: rolled back with it.
  ASSERT_OK(store_->SetDatasetInfo(job_.id, 2, {}, {}, "", Holding(job_.lease_token)));
  EXPECT_THAT(store_->AppendMetrics(job_.id, {Row(job_.id, 5, "train", "loss_sum", {1, 2, 3})},
                                    Renewing(job_.lease_token, even_later + kLease, 5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the job has 2 classes")));
  ASSERT_OK_AND_ASSIGN(JobRecord unchanged, store_->GetJob(job_.id));
  EXPECT_EQ(unchanged.lease_expires_at, later + kLease);
  EXPECT_EQ(unchanged.progress_step, 4);
  // A refused decision: its error, nothing written; a cancellation comes back with the next batch.
  EXPECT_THAT(store_->AppendMetrics(job_.id, {Row(job_.id, 5, "train", "loss", {0.4})},
                                    Renewing("not-the-token", even_later + kLease, 5)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "test: not holding job " + job_.id));
  ASSERT_OK(
      store_->UpdateJob(job_.id, Holding("", [](JobUpdate& u) { u.cancel_requested = true; })));
  ASSERT_OK_AND_ASSIGN(JobRecord cancelling,
                       store_->AppendMetrics(job_.id, {Row(job_.id, 6, "train", "loss", {0.3})},
                                             Renewing(job_.lease_token, even_later + kLease, 6)));
  EXPECT_TRUE(cancelling.cancel_requested);
  ASSERT_OK_AND_ASSIGN(rows, store_->ReadMetrics(query));
  EXPECT_EQ(rows.size(), 2u);  // Steps 4 and 6.
}

TEST_F(SqliteStoreTest, PerClassVectorsMustHaveOneValuePerClassOnceTheyAreKnown) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  // Before the data set is known nothing can be checked.
  ASSERT_OK(store_->AppendMetrics(job_.id, {Row(job_.id, 0, "train", "loss_sum", {1, 2, 3, 4})},
                                  Holding(job_.lease_token)));
  ASSERT_OK(store_->SetDatasetInfo(job_.id, 3, {1, 1, 1}, {}, "", Holding(job_.lease_token)));
  ASSERT_OK(store_->AppendMetrics(
      job_.id,
      {Row(job_.id, 1, "train", "loss_sum", {1, 2, 3}), Row(job_.id, 1, "train", "loss", {2})},
      Holding(job_.lease_token)));
  EXPECT_THAT(store_->AppendMetrics(job_.id,
                                    {Row(job_.id, 2, "train", "loss", {2}),
                                     Row(job_.id, 2, "train", "p_mass", {1, 2, 3, 4, 5})},
                                    Holding(job_.lease_token)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("train/p_mass at step 2"),
                                        HasSubstr("5 values; the job has 3 classes"))));
  MetricQuery query;
  query.job_ids = {job_.id};
  query.min_step = 2;
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store_->ReadMetrics(query));
  EXPECT_TRUE(rows.empty());  // The whole batch was refused.

  // A per-item vector (one value per block) is as long as its items, whatever the classes.
  MetricRow blocks = Row(job_.id, 3, "train", "block_mse", {0.5, 0.25});
  blocks.per_item = true;
  ASSERT_OK(store_->AppendMetrics(job_.id, {blocks}, Holding(job_.lease_token)));
  query.min_step = 3;
  ASSERT_OK_AND_ASSIGN(rows, store_->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].values, ::testing::ElementsAre(0.5, 0.25));
}

TEST_F(SqliteStoreTest, ReadMetricsFiltersAndOrders) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> other, Claim(*store_, "w2", kT0));
  ASSERT_TRUE(other.has_value());
  for (const JobRecord* job : {&job_, &*other}) {
    std::vector<MetricRow> rows;
    // Written out of order on purpose.
    for (int64_t step : {20, 0, 10}) {
      for (const char* split : {"train", "test"}) {
        for (const char* metric : {"loss", "accuracy", "grad_norm"}) {
          rows.push_back(Row(job->id, step, split, metric, {static_cast<double>(step)}));
        }
      }
    }
    ASSERT_OK(store_->AppendMetrics(job->id, rows, Holding(job->lease_token)));
  }

  MetricQuery query;
  query.job_ids = {other->id, job_.id, other->id};  // Given order; the duplicate is ignored.
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> all, store_->ReadMetrics(query));
  ASSERT_EQ(all.size(), 2u * 3 * 2 * 3);
  EXPECT_EQ(all.front().job_id, other->id);
  EXPECT_EQ(all.back().job_id, job_.id);
  EXPECT_EQ(all[0].step, 0);
  EXPECT_EQ(all[0].split, "test");
  EXPECT_EQ(all[0].metric, "accuracy");
  for (size_t i = 1; i < all.size(); ++i) {
    if (all[i].job_id != all[i - 1].job_id) continue;
    EXPECT_LT(std::tie(all[i - 1].step, all[i - 1].split, all[i - 1].metric),
              std::tie(all[i].step, all[i].split, all[i].metric));
  }

  query.job_ids = {job_.id};
  query.split = "train";
  query.metrics = {"loss", "grad_norm"};
  query.min_step = 5;
  query.max_step = 20;
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> some, store_->ReadMetrics(query));
  std::vector<std::string> keys;
  for (const MetricRow& row : some) {
    keys.push_back(absl::StrCat(row.step, "/", row.split, "/", row.metric));
  }
  EXPECT_THAT(keys, ElementsAre("10/train/grad_norm", "10/train/loss", "20/train/grad_norm",
                                "20/train/loss"));

  query.job_ids = {"s-ffffffff-0"};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> unknown, store_->ReadMetrics(query));
  EXPECT_TRUE(unknown.empty());
  query.job_ids = {};
  EXPECT_EQ(store_->ReadMetrics(query).status().code(), absl::StatusCode::kInvalidArgument);
  query.job_ids = {job_.id};
  query.min_step = 30;
  EXPECT_EQ(store_->ReadMetrics(query).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, SetDatasetInfoRoundTrips) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  const std::vector<int64_t> train = {6000, 1, 0, std::numeric_limits<int64_t>::max()};
  const std::vector<int64_t> test = {1000, 2, 3, 4};
  // The declared metrics are opaque bytes to the store (zero bytes included).
  const std::string metrics("declared\0metrics", 16);
  EXPECT_TRUE(store_->GetJob(job_.id)->metrics.empty());
  ASSERT_OK(store_->SetDatasetInfo(job_.id, 4, train, test, metrics, Holding(job_.lease_token)));
  ASSERT_OK_AND_ASSIGN(JobRecord job, store_->GetJob(job_.id));
  EXPECT_EQ(job.num_classes, 4);
  EXPECT_EQ(job.train_class_counts, train);
  EXPECT_EQ(job.test_class_counts, test);
  EXPECT_EQ(job.metrics, metrics);
  EXPECT_EQ(store_->SetDatasetInfo(job_.id, 0, {}, {}, "", Holding(job_.lease_token)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetDatasetInfo(job_.id, 4, {1, 2}, {}, "", Holding(job_.lease_token)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetDatasetInfo(job_.id, 2, {1, -2}, {}, "", Holding(job_.lease_token)).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Job decisions

// A decision's refusal is returned as it is, and nothing of the call lands: not the job update,
// not the metrics, the dataset info or the checkpoint written with it.
TEST_F(SqliteStoreTest, ARefusedDecisionWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  const std::string old_token = job_.lease_token;
  // The job is requeued and claimed again by another worker.
  const absl::Time later = kT0 + kLease + absl::Seconds(1);
  ASSERT_OK(store_->UpdateJob(job_.id, Requeueing()));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> again, Claim(*store_, "w2", later));
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(again->id, job_.id);
  EXPECT_EQ(again->attempt, 2);
  const std::string new_token = again->lease_token;
  ASSERT_NE(new_token, old_token);

  const auto refused =
      StatusIs(absl::StatusCode::kFailedPrecondition, "test: not holding job " + job_.id);
  EXPECT_THAT(store_->UpdateJob(job_.id, Renewing(old_token, later + kLease, 5)), refused);
  EXPECT_THAT(store_->AppendMetrics(job_.id, {Row(job_.id, 1, "test", "loss", {1})},
                                    Renewing(old_token, later + kLease, 5)),
              refused);
  EXPECT_THAT(store_->SetDatasetInfo(job_.id, 1, {1}, {1}, "", Holding(old_token)), refused);
  EXPECT_THAT(store_->SaveCheckpoint(job_.id, 3, "three", 2, Holding(old_token)), refused);
  EXPECT_THAT(store_->LoadCheckpoint(job_.id, INT64_MAX, Holding(old_token)), refused);
  EXPECT_THAT(store_->UpdateJob(job_.id, Ending(old_token, JobState::kSucceeded, later)), refused);

  // Nothing landed; the same calls under the new lease all work.
  MetricQuery query;
  query.job_ids = {job_.id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store_->ReadMetrics(query));
  EXPECT_TRUE(rows.empty());
  ASSERT_OK_AND_ASSIGN(JobRecord unchanged, store_->GetJob(job_.id));
  EXPECT_EQ(unchanged.state, JobState::kRunning);
  EXPECT_EQ(unchanged.progress_step, 0);
  EXPECT_EQ(unchanged.num_classes, 0);
  EXPECT_EQ(unchanged.lease_expires_at, later + kLease);
  ASSERT_OK_AND_ASSIGN(JobRecord renewed,
                       store_->UpdateJob(job_.id, Renewing(new_token, later + 2 * kLease, 7)));
  EXPECT_FALSE(renewed.cancel_requested);
  ASSERT_OK(
      store_->AppendMetrics(job_.id, {Row(job_.id, 1, "test", "loss", {1})}, Holding(new_token)));
  ASSERT_OK(store_->SetDatasetInfo(job_.id, 1, {1}, {1}, "", Holding(new_token)));
  ASSERT_OK(store_->SaveCheckpoint(job_.id, 3, "three", 2, Holding(new_token)));
  ASSERT_OK_AND_ASSIGN(JobRecord running, store_->GetJob(job_.id));
  EXPECT_EQ(running.progress_step, 7);
  EXPECT_EQ(running.worker_id, "w2");
  EXPECT_EQ(running.lease_expires_at, later + 2 * kLease);
  EXPECT_EQ(running.num_classes, 1);
  ASSERT_OK(store_->UpdateJob(job_.id, Ending(new_token, JobState::kSucceeded, later)));
  EXPECT_THAT(store_->UpdateJob(job_.id, Holding(new_token)), refused);

  // In a batch, the first refusal rolls back the changes decided before it.
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> other, Claim(*store_, "w3", later));
  ASSERT_TRUE(other.has_value());
  int asked = 0;
  JobSelection all;
  EXPECT_THAT(store_->UpdateJobs(all,
                                 [&asked](const JobRecord& job) -> absl::StatusOr<JobUpdate> {
                                   if (++asked == 2) return absl::AbortedError("second");
                                   JobUpdate update = JobUpdate::Of(job);
                                   update.error = "touched";
                                   return update;
                                 }),
              StatusIs(absl::StatusCode::kAborted, "second"));
  EXPECT_EQ(asked, 2);
  ASSERT_OK_AND_ASSIGN(JobRecord first, store_->GetJob(job_.id));
  EXPECT_EQ(first.error, "");
}

// What a decision returns is what is stored, for every lifecycle field, and nothing else of the
// job changes.
TEST_F(SqliteStoreTest, UpdateJobWritesEveryLifecycleField) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  ASSERT_OK(store_->SetDatasetInfo(job_.id, 2, {5, 6}, {7, 8}, "", Holding(job_.lease_token)));
  ASSERT_OK_AND_ASSIGN(const JobRecord before, store_->GetJob(job_.id));
  JobUpdate want;
  want.state = JobState::kDiverged;
  want.attempt = 7;
  want.worker_id = "w9";
  want.lease_token = "";
  want.lease_expires_at = absl::InfinitePast();  // Stored as NULL.
  want.progress_step = 77;
  want.cancel_requested = true;
  want.error = "loss is nan";
  want.started_at = kT0 + absl::Seconds(1);
  want.finished_at = kT0 + absl::Minutes(5);
  ASSERT_OK_AND_ASSIGN(
      JobRecord returned,
      store_->UpdateJob(job_.id, [&](const JobRecord& job) -> absl::StatusOr<JobUpdate> {
        EXPECT_EQ(job.num_classes, 2);
        EXPECT_TRUE(job.train_class_counts.empty());  // Not read for a decision.
        EXPECT_EQ(JobUpdate::Of(job), JobUpdate::Of(before));
        return want;
      }));
  ASSERT_OK_AND_ASSIGN(const JobRecord after, store_->GetJob(job_.id));
  EXPECT_EQ(JobUpdate::Of(after), want);
  EXPECT_EQ(JobUpdate::Of(returned), want);
  EXPECT_EQ(after.spec, before.spec);
  EXPECT_EQ(after.summary_json, before.summary_json);
  EXPECT_EQ(after.max_attempts, before.max_attempts);
  EXPECT_EQ(after.total_steps, before.total_steps);
  EXPECT_EQ(after.created_at, before.created_at);
  EXPECT_EQ(after.train_class_counts, before.train_class_counts);
  EXPECT_EQ(after.test_class_counts, before.test_class_counts);
}

// A decision that changes nothing is not written at all (no UPDATE, so no trigger runs).
TEST_F(SqliteStoreTest, ADecisionThatChangesNothingWritesNothing) {
  store_ = OpenOrDie(Path());
  ASSERT_NE(store_, nullptr);
  ASSERT_OK(store_->CreateSweep("s", "", MakeJobs(2), kT0).status());
  {
    RawDb raw(Path());
    raw.Exec(
        "CREATE TABLE updates (id TEXT); CREATE TRIGGER count_updates AFTER UPDATE ON jobs "
        "BEGIN INSERT INTO updates VALUES (NEW.id); END;");
  }
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store_, "w", kT0));
  ASSERT_OK(store_->UpdateJob(job->id, Holding(job->lease_token)));
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> changed, store_->UpdateJobs({}, Holding("")));
  EXPECT_THAT(changed, IsEmpty());
  ASSERT_OK(store_->AppendMetrics(job->id, {Row(job->id, 1, "test", "loss", {1})},
                                  Holding(job->lease_token)));
  EXPECT_EQ(RawDb(Path()).QueryText("SELECT group_concat(id) FROM updates"), job->id);
}

// The expiry selection: leases that expired strictly before the time; jobs without a lease never.
TEST_F(SqliteStoreTest, UpdateJobsSelectsLeasesExpiredBeforeATime) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  auto expired_before = [this](absl::Time t) -> absl::StatusOr<std::vector<JobRecord>> {
    JobSelection selection;
    selection.lease_expires_before = t;
    return store_->UpdateJobs(selection, Requeueing());
  };
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> none, expired_before(kT0 + kLease));
  EXPECT_THAT(none, IsEmpty());  // Expiring at the time is not expired before it.
  const absl::Time t1 = kT0 + absl::Seconds(20);
  ASSERT_OK(store_->UpdateJob(job_.id, Renewing(job_.lease_token, t1 + kLease, 3)));
  ASSERT_OK_AND_ASSIGN(none, expired_before(kT0 + kLease + absl::Seconds(1)));
  EXPECT_THAT(none, IsEmpty());
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> changed,
                       expired_before(t1 + kLease + absl::Microseconds(1)));
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].id, job_.id);
  EXPECT_EQ(changed[0].state, JobState::kQueued);  // As written.
  // Queued now, with no lease: never selected again.
  ASSERT_OK_AND_ASSIGN(none, expired_before(absl::InfiniteFuture()));
  EXPECT_THAT(none, IsEmpty());
}

TEST_F(SqliteStoreTest, CheckpointsKeepTheNewestAndLoadBeforeAStep) {
  ASSERT_NO_FATAL_FAILURE(OpenAndClaim());
  const std::string& token = job_.lease_token;
  ASSERT_OK_AND_ASSIGN(std::optional<CheckpointRecord> none,
                       store_->LoadCheckpoint(job_.id, INT64_MAX, Holding(token)));
  EXPECT_FALSE(none.has_value());
  // Bytes are stored exactly, NULs and high bytes included.
  const std::string blob10(
      "\x00\xff"
      "ten",
      5);
  ASSERT_OK(store_->SaveCheckpoint(job_.id, 10, blob10, /*keep=*/2, Holding(token)));
  ASSERT_OK(store_->SaveCheckpoint(job_.id, 20, "twenty", 2, Holding(token)));
  ASSERT_OK(store_->SaveCheckpoint(job_.id, 20, "twenty again", 2, Holding(token)));  // Replaces.
  ASSERT_OK_AND_ASSIGN(std::optional<CheckpointRecord> latest,
                       store_->LoadCheckpoint(job_.id, INT64_MAX, Holding(token)));
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 20);
  EXPECT_EQ(latest->data, "twenty again");
  ASSERT_OK_AND_ASSIGN(std::optional<CheckpointRecord> older,
                       store_->LoadCheckpoint(job_.id, 20, Holding(token)));
  ASSERT_TRUE(older.has_value());
  EXPECT_EQ(older->step, 10);
  EXPECT_EQ(older->data, blob10);
  // A third checkpoint pushes out the oldest (keep = 2).
  ASSERT_OK(store_->SaveCheckpoint(job_.id, 30, "thirty", 2, Holding(token)));
  ASSERT_OK_AND_ASSIGN(std::optional<CheckpointRecord> before20,
                       store_->LoadCheckpoint(job_.id, 20, Holding(token)));
  EXPECT_FALSE(before20.has_value());
  ASSERT_OK_AND_ASSIGN(std::optional<CheckpointRecord> before30,
                       store_->LoadCheckpoint(job_.id, 30, Holding(token)));
  ASSERT_TRUE(before30.has_value());
  EXPECT_EQ(before30->step, 20);
}

TEST_F(SqliteStoreTest, CheckpointsAreGuardedAndSurviveARequeueButNotTheEnd) {
  // A file, so that a raw connection can count the rows at the end.
  store_ = OpenOrDie(Path());
  ASSERT_NE(store_, nullptr);
  ASSERT_OK(store_->CreateSweep("sweep", "", MakeJobs(2), kT0).status());
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> first, Claim(*store_, "w1", kT0));
  ASSERT_TRUE(first.has_value());
  job_ = *first;
  const std::string old_token = job_.lease_token;
  ASSERT_OK(store_->SaveCheckpoint(job_.id, 5, "five", 2, Holding(old_token)));
  EXPECT_EQ(store_->SaveCheckpoint(job_.id, -1, "x", 2, Holding(old_token)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SaveCheckpoint(job_.id, 0, "x", 2, Holding(old_token)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SaveCheckpoint(job_.id, 6, "", 2, Holding(old_token)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SaveCheckpoint(job_.id, 6, "x", 0, Holding(old_token)).code(),
            absl::StatusCode::kInvalidArgument);
  // The job is requeued and another worker claims it: a decision refusing the old token stops both
  // writing and reading checkpoints; the new attempt reads the one the first attempt left.
  const absl::Time later = kT0 + kLease + absl::Seconds(1);
  ASSERT_OK(store_->UpdateJob(job_.id, Requeueing()));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> again, Claim(*store_, "w2", later));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(store_->SaveCheckpoint(job_.id, 9, "stale", 2, Holding(old_token)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->LoadCheckpoint(job_.id, INT64_MAX, Holding(old_token)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(std::optional<CheckpointRecord> resumed,
                       store_->LoadCheckpoint(job_.id, INT64_MAX, Holding(again->lease_token)));
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->step, 5);
  EXPECT_EQ(resumed->data, "five");
  // Finishing drops the job's checkpoints (a second job's are untouched).
  ASSERT_OK(store_->UpdateJob(job_.id, Ending(again->lease_token, JobState::kSucceeded, later)));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> other, Claim(*store_, "w2", later));
  ASSERT_TRUE(other.has_value());
  ASSERT_OK(store_->SaveCheckpoint(other->id, 3, "three", 2, Holding(other->lease_token)));
  RawDb raw(Path());
  EXPECT_EQ(raw.QueryText("SELECT group_concat(job_id || ':' || step) FROM checkpoints"),
            other->id + ":3");
}

// ---------------------------------------------------------------------------------------------
// Kept models

// FNV-1a 64, written out here so that the store is checked against an independent computation.
uint64_t Fnv1a(const std::string& bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// Bytes that are not all alike (and not text), so a piece out of place changes the checksum.
std::string ModelBytes(size_t n, uint32_t seed = 1) {
  std::string bytes(n, '\0');
  std::mt19937 random(seed);
  for (char& c : bytes) c = static_cast<char>(random() & 0xff);
  return bytes;
}

// The piece [offset, offset + size) of `model`.
KeptModelChunk Piece(const std::string& model, int64_t offset, int64_t size) {
  return {static_cast<int64_t>(model.size()), offset, Fnv1a(model),
          model.substr(static_cast<size_t>(offset), static_cast<size_t>(size))};
}

// Uploads `model` for `job_id` in pieces of `piece` bytes; returns the job after the last one.
absl::StatusOr<JobRecord> Upload(Store& store, const std::string& job_id, const std::string& token,
                                 const std::string& model, int64_t piece) {
  absl::StatusOr<JobRecord> job = absl::InternalError("no pieces");
  for (int64_t offset = 0; offset < static_cast<int64_t>(model.size()); offset += piece) {
    job = store.SaveKeptModelChunk(job_id, Piece(model, offset, piece), Holding(token));
    if (!job.ok()) return job;
  }
  return job;
}

// The model of `job_id` read back piece by piece, as LoadSourceModel streams it.
absl::StatusOr<std::string> Download(StoreReader& store, const std::string& job_id) {
  std::string model;
  int64_t total = 1;
  while (static_cast<int64_t>(model.size()) < total) {
    absl::StatusOr<KeptModelChunk> piece =
        store.ReadKeptModelChunk(job_id, static_cast<int64_t>(model.size()));
    if (!piece.ok()) return piece.status();
    total = piece->total_bytes;
    model += piece->data;
  }
  return model;
}

TEST_F(SqliteStoreTest, AKeptModelIsStoredInPiecesCheckedAndReadBack) {
  OpenAndClaim();
  const std::string model = ModelBytes(1000);
  // Three pieces: the job has no model until the last one is in and checked.
  ASSERT_OK_AND_ASSIGN(JobRecord job, store_->SaveKeptModelChunk(job_.id, Piece(model, 0, 400),
                                                                 Holding(job_.lease_token)));
  EXPECT_FALSE(job.kept_model.has_value());
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(model, 400, 400), Holding(job_.lease_token)));
  EXPECT_THAT(store_->ReadKeptModelChunk(job_.id, 0), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(
      job, store_->SaveKeptModelChunk(job_.id, Piece(model, 800, 200), Holding(job_.lease_token)));
  const KeptModelInfo want{1000, Fnv1a(model)};
  ASSERT_TRUE(job.kept_model.has_value());
  EXPECT_EQ(*job.kept_model, want);
  ASSERT_OK_AND_ASSIGN(job, store_->GetJob(job_.id));
  EXPECT_EQ(job.kept_model, std::optional<KeptModelInfo>(want));
  JobFilter all;
  ASSERT_OK_AND_ASSIGN(JobPage page, store_->ListJobs(all));
  ASSERT_EQ(page.jobs.size(), 2u);
  EXPECT_EQ(page.jobs[0].kept_model, std::optional<KeptModelInfo>(want));
  EXPECT_FALSE(page.jobs[1].kept_model.has_value());

  EXPECT_THAT(Download(*store_, job_.id), IsOkAndHolds(model));
  ASSERT_OK_AND_ASSIGN(KeptModelChunk second, store_->ReadKeptModelChunk(job_.id, 400));
  EXPECT_EQ(second.total_bytes, 1000);
  EXPECT_EQ(second.checksum, Fnv1a(model));
  EXPECT_EQ(second.data, model.substr(400, 400));
  EXPECT_THAT(store_->ReadKeptModelChunk(job_.id, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("starts at offset 10")));
  EXPECT_THAT(store_->ReadKeptModelChunk(page.jobs[1].id, 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("has no kept model")));
  EXPECT_THAT(store_->ReadKeptModelChunk("s-nope-0", 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job s-nope-0 not found")));
}

TEST_F(SqliteStoreTest, AKeptModelSurvivesReopeningTheFile) {
  const std::string model = ModelBytes(300);
  std::string job_id;
  {
    store_ = OpenOrDie(Path());
    ASSERT_OK(store_->CreateSweep("s", "", MakeJobs(1), kT0).status());
    ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store_, "w", kT0));
    job_id = job->id;
    ASSERT_OK(Upload(*store_, job_id, job->lease_token, model, 128).status());
    ASSERT_OK(store_->UpdateJob(job_id, Ending(job->lease_token, JobState::kSucceeded, kT0)));
    store_.reset();
  }
  store_ = OpenOrDie(Path());
  ASSERT_OK_AND_ASSIGN(JobRecord job, store_->GetJob(job_id));
  EXPECT_EQ(job.kept_model, std::optional<KeptModelInfo>(KeptModelInfo{300, Fnv1a(model)}));
  EXPECT_THAT(Download(*store_, job_id), IsOkAndHolds(model));
  // A read-only store (optbench query --db) reads it too.
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  auto reader = OpenOrDie(Path(), read_only);
  ASSERT_NE(reader, nullptr);
  EXPECT_THAT(Download(*reader, job_id), IsOkAndHolds(model));
}

TEST_F(SqliteStoreTest, KeptModelPiecesThatDoNotFitAreRefusedAndWriteNothing) {
  OpenAndClaim();
  const std::string model = ModelBytes(100);
  const std::string& token = job_.lease_token;
  struct Case {
    KeptModelChunk chunk;
    std::string needle;
  };
  KeptModelChunk past_end = Piece(model, 90, 10);
  past_end.data += "x";
  const Case malformed[] = {
      {{0, 0, 1, "x"}, "total_bytes 0"},
      {{100, -1, Fnv1a(model), "x"}, "offset -1"},
      {{100, 0, Fnv1a(model), ""}, "with 0 bytes"},
      {past_end, "at offset 90 with 11 bytes"},
      {Piece(model, 10, 10), "no upload is under way"},
  };
  for (const Case& c : malformed) {
    EXPECT_THAT(store_->SaveKeptModelChunk(job_.id, c.chunk, Holding(token)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.needle)))
        << c.needle;
  }
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(model, 0, 40), Holding(token)));
  KeptModelChunk other_model = Piece(model, 40, 10);
  other_model.checksum ^= 1;
  EXPECT_THAT(store_->SaveKeptModelChunk(job_.id, other_model, Holding(token)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the upload under way is of 100 bytes")));
  EXPECT_THAT(store_->SaveKeptModelChunk(job_.id, Piece(model, 60, 40), Holding(token)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the upload holds bytes [0, 40); pieces come in order")));
  // A writer whose lease moved on writes nothing either.
  EXPECT_THAT(store_->SaveKeptModelChunk(job_.id, Piece(model, 40, 60), Holding("stale")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The upload is where it was: the rest completes it.
  ASSERT_OK_AND_ASSIGN(JobRecord job,
                       store_->SaveKeptModelChunk(job_.id, Piece(model, 40, 60), Holding(token)));
  EXPECT_EQ(job.kept_model, std::optional<KeptModelInfo>(KeptModelInfo{100, Fnv1a(model)}));
}

TEST_F(SqliteStoreTest, KeptModelPiecesSentAgainOrFromTheStartReplaceWhatWasThere) {
  OpenAndClaim();
  const std::string& token = job_.lease_token;
  const std::string model = ModelBytes(90, 1);
  // A reconnect resends from the first unacknowledged piece: [30, 60) again, then the rest.
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(model, 0, 30), Holding(token)));
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(model, 30, 30), Holding(token)));
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(model, 30, 30), Holding(token)));
  ASSERT_OK_AND_ASSIGN(JobRecord job,
                       store_->SaveKeptModelChunk(job_.id, Piece(model, 60, 30), Holding(token)));
  ASSERT_TRUE(job.kept_model.has_value());
  EXPECT_THAT(Download(*store_, job_.id), IsOkAndHolds(model));
  // A new upload (offset 0) replaces even a finished one, and the job has none until it ends.
  const std::string other = ModelBytes(50, 2);
  ASSERT_OK_AND_ASSIGN(job,
                       store_->SaveKeptModelChunk(job_.id, Piece(other, 0, 20), Holding(token)));
  EXPECT_FALSE(job.kept_model.has_value());
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(other, 20, 30), Holding(token)));
  EXPECT_THAT(Download(*store_, job_.id), IsOkAndHolds(other));
}

TEST_F(SqliteStoreTest, AKeptModelWhoseBytesDoNotMatchItsChecksumIsDataLoss) {
  OpenAndClaim();
  const std::string& token = job_.lease_token;
  const std::string model = ModelBytes(64);
  ASSERT_OK(store_->SaveKeptModelChunk(job_.id, Piece(model, 0, 32), Holding(token)));
  KeptModelChunk corrupted = Piece(model, 32, 32);
  corrupted.data[5] ^= 0x10;
  EXPECT_THAT(store_->SaveKeptModelChunk(job_.id, corrupted, Holding(token)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("corrupted on the way")));
  ASSERT_OK_AND_ASSIGN(JobRecord job, store_->GetJob(job_.id));
  EXPECT_FALSE(job.kept_model.has_value());
  // Nothing of the refused piece was written: the good one still finishes the upload.
  ASSERT_OK_AND_ASSIGN(job,
                       store_->SaveKeptModelChunk(job_.id, Piece(model, 32, 32), Holding(token)));
  EXPECT_TRUE(job.kept_model.has_value());
}

TEST_F(SqliteStoreTest, AKeptModelBelongsToTheAttemptThatSucceededAndGoesWithItsJob) {
  // A file, so that a raw connection can count rows and delete a job behind the store's back.
  store_ = OpenOrDie(Path());
  ASSERT_OK(store_->CreateSweep("sweep", "", MakeJobs(3), kT0).status());
  const std::string model = ModelBytes(50);
  auto count = [&](const std::string& table) {
    return RawDb(Path()).QueryText(absl::StrCat("SELECT count(*) FROM ", table));
  };
  // Job 0: a finished upload, then the lease expires: requeued, the model goes with the attempt.
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> first, Claim(*store_, "w1", kT0));
  ASSERT_OK(Upload(*store_, first->id, first->lease_token, model, 20).status());
  ASSERT_OK_AND_ASSIGN(JobRecord requeued, store_->UpdateJob(first->id, Requeueing()));
  EXPECT_FALSE(requeued.kept_model.has_value());
  EXPECT_EQ(count("kept_model_pieces"), "0");
  // Its next attempt fails for good after a finished upload: nothing kept either.
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> again, Claim(*store_, "w2", kT0));
  ASSERT_EQ(again->id, first->id);
  ASSERT_OK(Upload(*store_, again->id, again->lease_token, model, 20).status());
  ASSERT_OK(store_->UpdateJob(again->id, Ending(again->lease_token, JobState::kFailed, kT0)));
  EXPECT_EQ(count("kept_models"), "0");
  // Job 1 succeeds with half an upload: that half goes.
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> second, Claim(*store_, "w1", kT0));
  ASSERT_OK(
      store_->SaveKeptModelChunk(second->id, Piece(model, 0, 20), Holding(second->lease_token)));
  ASSERT_OK(store_->UpdateJob(second->id, Ending(second->lease_token, JobState::kSucceeded, kT0)));
  EXPECT_EQ(count("kept_models"), "0");
  // Job 2 succeeds with its model: kept, until its row is deleted (a deleted sweep).
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> third, Claim(*store_, "w1", kT0));
  ASSERT_OK(Upload(*store_, third->id, third->lease_token, model, 20).status());
  ASSERT_OK(store_->UpdateJob(third->id, Ending(third->lease_token, JobState::kSucceeded, kT0)));
  ASSERT_OK_AND_ASSIGN(JobRecord kept, store_->GetJob(third->id));
  EXPECT_TRUE(kept.kept_model.has_value());
  EXPECT_EQ(count("kept_model_pieces"), "3");
  RawDb raw(Path());
  raw.Exec(absl::StrCat("PRAGMA foreign_keys = ON; DELETE FROM jobs WHERE id = '", third->id, "'"));
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM kept_models"), "0");
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM kept_model_pieces"), "0");
}

TEST_F(SqliteStoreTest, FindSweepByNameFindsTheNewest) {
  store_ = OpenOrDie(":memory:");
  ASSERT_OK_AND_ASSIGN(SweepRecord old, store_->CreateSweep("paper5", "", MakeJobs(1), kT0));
  ASSERT_OK(store_->CreateSweep("other", "", MakeJobs(1), kT0).status());
  ASSERT_OK_AND_ASSIGN(SweepRecord newer,
                       store_->CreateSweep("paper5", "", MakeJobs(1), kT0 + absl::Seconds(1)));
  ASSERT_NE(old.id, newer.id);
  ASSERT_OK_AND_ASSIGN(SweepRecord found, store_->FindSweepByName("paper5"));
  EXPECT_EQ(found.id, newer.id);
  EXPECT_THAT(store_->FindSweepByName("paper6"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no sweep is named 'paper6'")));
}

// ---------------------------------------------------------------------------------------------
// Batches

TEST_F(SqliteStoreTest, UpdateJobsOfOneSweepLeavesTheOthersAlone) {
  auto store = OpenOrDie(":memory:");
  ASSERT_OK_AND_ASSIGN(SweepRecord a, store->CreateSweep("a", "", MakeJobs(3), kT0));
  ASSERT_OK_AND_ASSIGN(SweepRecord b, store->CreateSweep("b", "", MakeJobs(2), kT0));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> running, Claim(*store, "w", kT0));
  JobSelection live_of_a;
  live_of_a.sweep_id = a.id;
  live_of_a.states = {JobState::kQueued, JobState::kRunning};
  ASSERT_OK_AND_ASSIGN(std::vector<JobRecord> changed,
                       store->UpdateJobs(live_of_a, Ending("", JobState::kCancelled, kT0)));
  EXPECT_EQ(changed.size(), 3u);
  ASSERT_OK_AND_ASSIGN(auto counts, store->CountJobs(a.id));
  EXPECT_EQ(CountOf(counts, JobState::kCancelled), 3);
  ASSERT_OK_AND_ASSIGN(auto other, store->CountJobs(b.id));
  EXPECT_EQ(CountOf(other, JobState::kQueued), 2);
  ASSERT_OK_AND_ASSIGN(JobRecord ended, store->GetJob(running->id));
  EXPECT_EQ(ended.state, JobState::kCancelled);
}

// ---------------------------------------------------------------------------------------------
// Listing and counting

TEST_F(SqliteStoreTest, ListJobsPagesCoverEveryJobOnce) {
  auto store = OpenOrDie(":memory:");
  std::vector<std::string> expected;
  std::vector<SweepRecord> sweeps;
  for (int size : {7, 1, 12}) {
    ASSERT_OK_AND_ASSIGN(SweepRecord s, store->CreateSweep("s", "", MakeJobs(size), kT0));
    for (int i = 0; i < size; ++i) expected.push_back(absl::StrCat(s.id, "-", i));
    sweeps.push_back(s);
  }
  for (int64_t page_size : {1, 3, 7, 20, 1000}) {
    JobFilter filter;
    filter.page_size = page_size;
    std::vector<std::string> seen;
    int pages = 0;
    do {
      ASSERT_OK_AND_ASSIGN(JobPage page, store->ListJobs(filter));
      EXPECT_LE(static_cast<int64_t>(page.jobs.size()), page_size);
      for (const JobRecord& job : page.jobs) seen.push_back(job.id);
      filter.page_token = page.next_page_token;
      ASSERT_LT(++pages, 100);
    } while (!filter.page_token.empty());
    EXPECT_EQ(seen, expected) << "page_size " << page_size;
    EXPECT_EQ(pages, (20 + page_size - 1) / page_size) << "no empty trailing page";
  }

  // Filters: one sweep; one state.
  for (int i = 0; i < 8; ++i) ASSERT_OK(Claim(*store, "w", kT0).status());
  JobFilter by_sweep;
  by_sweep.sweep_id = sweeps[2].id;
  by_sweep.page_size = 5;
  by_sweep.state = JobState::kQueued;
  std::vector<int64_t> indexes;
  do {
    ASSERT_OK_AND_ASSIGN(JobPage page, store->ListJobs(by_sweep));
    for (const JobRecord& job : page.jobs) {
      EXPECT_EQ(job.sweep_id, sweeps[2].id);
      EXPECT_EQ(job.state, JobState::kQueued);
      indexes.push_back(job.index);
    }
    by_sweep.page_token = page.next_page_token;
  } while (!by_sweep.page_token.empty());
  EXPECT_EQ(indexes.size(), 12u);
  JobFilter running;
  running.state = JobState::kRunning;
  ASSERT_OK_AND_ASSIGN(JobPage page, store->ListJobs(running));
  ASSERT_EQ(page.jobs.size(), 8u);
  EXPECT_EQ(page.jobs.back().id, sweeps[1].id + "-0");

  JobFilter bad;
  bad.page_size = 0;
  EXPECT_EQ(store->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.page_size = 1001;
  EXPECT_EQ(store->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.page_size = 10;
  bad.page_token = "not a token";
  EXPECT_EQ(store->ListJobs(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, CountJobsPerStateOverallAndPerSweep) {
  auto store = OpenOrDie(":memory:");
  ASSERT_OK_AND_ASSIGN(SweepRecord a, store->CreateSweep("a", "", MakeJobs(3), kT0));
  ASSERT_OK_AND_ASSIGN(SweepRecord b, store->CreateSweep("b", "", MakeJobs(4), kT0));
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store, "w", kT0));
  ASSERT_OK(store->UpdateJob(job->id, Ending(job->lease_token, JobState::kSucceeded, kT0)));
  ASSERT_OK(Claim(*store, "w", kT0).status());
  ASSERT_OK(store->UpdateJob(b.id + "-3", Ending("", JobState::kCancelled, kT0)));

  ASSERT_OK_AND_ASSIGN(auto all, store->CountJobs(""));
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[0].first, JobState::kQueued);
  EXPECT_EQ(CountOf(all, JobState::kQueued), 4);
  EXPECT_EQ(CountOf(all, JobState::kRunning), 1);
  EXPECT_EQ(CountOf(all, JobState::kSucceeded), 1);
  EXPECT_EQ(CountOf(all, JobState::kCancelled), 1);
  EXPECT_EQ(CountOf(all, JobState::kFailed), 0);
  ASSERT_OK_AND_ASSIGN(auto only_a, store->CountJobs(a.id));
  EXPECT_EQ(CountOf(only_a, JobState::kQueued), 1);
  EXPECT_EQ(CountOf(only_a, JobState::kCancelled), 0);
}

TEST_F(SqliteStoreTest, UpsertWorkerAndListWorkers) {
  auto store = OpenOrDie(":memory:");
  ASSERT_OK(store->UpsertWorker({"w2", "gpu-box", 4, kT0}));
  ASSERT_OK(store->UpsertWorker({"w1", "laptop", 1, kT0}));
  ASSERT_OK(store->UpsertWorker({"w2", "gpu-box-renamed", 8, kT0 + absl::Seconds(9)}));
  ASSERT_OK_AND_ASSIGN(std::vector<WorkerRecord> workers, store->ListWorkers());
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[0].id, "w1");
  EXPECT_EQ(workers[1].id, "w2");
  EXPECT_EQ(workers[1].name, "gpu-box-renamed");
  EXPECT_EQ(workers[1].slots, 8);
  EXPECT_EQ(workers[1].last_seen, kT0 + absl::Seconds(9));
  EXPECT_EQ(store->UpsertWorker({"", "x", 1, kT0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->UpsertWorker({"w3", "x", -1, kT0}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, TimesRoundTripExactly) {
  auto store = OpenOrDie(":memory:");
  const std::vector<absl::Time> times = {absl::InfinitePast(), absl::InfiniteFuture(),
                                         absl::UnixEpoch(), absl::FromUnixMicros(-1),
                                         absl::FromUnixMicros(1'700'000'000'123'457)};
  for (size_t i = 0; i < times.size(); ++i) {
    ASSERT_OK(store->UpsertWorker({absl::StrCat("w", i), "", 1, times[i]}));
  }
  ASSERT_OK_AND_ASSIGN(std::vector<WorkerRecord> workers, store->ListWorkers());
  ASSERT_EQ(workers.size(), times.size());
  for (size_t i = 0; i < times.size(); ++i) EXPECT_EQ(workers[i].last_seen, times[i]) << i;
}

// ---------------------------------------------------------------------------------------------
// Files: concurrency, read-only access, durability

TEST_F(SqliteStoreTest, ReadersSeeConsistentSnapshotsWhileWriting) {
  constexpr int kSteps = 150;
  auto store = OpenOrDie(Path());
  ASSERT_NE(store, nullptr);
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  auto observer = OpenOrDie(Path(), read_only);  // A second "process": `optbench query`.
  ASSERT_NE(observer, nullptr);
  ASSERT_OK(store->CreateSweep("s", "", MakeJobs(1), kT0).status());
  ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store, "w", kT0));

  std::atomic<bool> done{false};
  auto check_snapshots = [&](SqliteStore* reader, int* reads) {
    MetricQuery query;
    query.job_ids = {job->id};
    size_t last_size = 0;
    while (true) {
      const bool finished = done.load();
      auto rows = reader->ReadMetrics(query);
      ASSERT_TRUE(rows.ok()) << rows.status();
      // Each AppendMetrics writes step k as two rows ("a" and "b", both k) in one transaction:
      // a snapshot holds both or neither, and steps 0..n-1 without gaps.
      ASSERT_EQ(rows->size() % 2, 0u);
      ASSERT_GE(rows->size(), last_size);
      last_size = rows->size();
      for (size_t i = 0; i < rows->size(); ++i) {
        const MetricRow& row = (*rows)[i];
        ASSERT_EQ(row.step, static_cast<int64_t>(i / 2));
        ASSERT_EQ(row.metric, i % 2 == 0 ? "a" : "b");
        ASSERT_THAT(row.values, ElementsAre(static_cast<double>(row.step)));
      }
      ++*reads;
      if (finished) break;
    }
    EXPECT_EQ(last_size, 2u * kSteps);
  };
  int pooled_reads = 0;
  int observer_reads = 0;
  std::thread pooled([&] { check_snapshots(store.get(), &pooled_reads); });
  std::thread other([&] { check_snapshots(observer.get(), &observer_reads); });
  for (int step = 0; step < kSteps; ++step) {
    const double v = step;
    ASSERT_OK(store->AppendMetrics(
        job->id, {Row(job->id, step, "test", "a", {v}), Row(job->id, step, "test", "b", {v})},
        Holding(job->lease_token)));
  }
  done = true;
  pooled.join();
  other.join();
  EXPECT_GT(pooled_reads, 0);
  EXPECT_GT(observer_reads, 0);
}

TEST_F(SqliteStoreTest, MoreReadersThanPooledConnectionsWaitTheirTurn) {
  SqliteStoreOptions options;
  options.read_connections = 2;
  auto store = OpenOrDie(Path(), options);
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(SweepRecord sweep, store->CreateSweep("s", "", MakeJobs(10), kT0));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto job = store->GetJob(absl::StrCat(sweep.id, "-", (t + i) % 10));
        if (!job.ok() || job->sweep_id != sweep.id) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(SqliteStoreTest, ReadOnlyStoreRefusesWritesAndSeesOtherWriters) {
  auto writer = OpenOrDie(Path());
  ASSERT_OK_AND_ASSIGN(SweepRecord first, writer->CreateSweep("first", "", MakeJobs(2), kT0));
  SqliteStoreOptions options;
  options.read_only = true;
  options.read_connections = 0;  // Raised to 1: a read-only store reads through its pool.
  auto reader = OpenOrDie(Path(), options);
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(reader->read_only());

  auto expect_read_only = [](const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("store is read-only"));
  };
  expect_read_only(reader->CreateSweep("x", "", MakeJobs(1), kT0).status());
  expect_read_only(Claim(*reader, "w", kT0).status());
  expect_read_only(reader->UpdateJob(first.id + "-0", Holding("")).status());
  JobSelection of_first;
  of_first.sweep_id = first.id;
  expect_read_only(reader->UpdateJobs(of_first, Holding("")).status());
  expect_read_only(reader->UpsertWorker({"w", "", 1, kT0}));
  expect_read_only(reader->AppendMetrics(first.id + "-0", {}, Holding("t")).status());
  expect_read_only(reader->SetDatasetInfo(first.id + "-0", 1, {}, {}, "", Holding("t")));
  expect_read_only(reader->SaveCheckpoint(first.id + "-0", 1, "x", 1, Holding("t")));
  expect_read_only(reader->LoadCheckpoint(first.id + "-0", 1, Holding("t")).status());

  ASSERT_OK_AND_ASSIGN(SweepRecord seen, reader->GetSweep(first.id));
  EXPECT_EQ(seen.num_jobs, 2);
  // Written after the read-only store opened: visible to its next read.
  ASSERT_OK_AND_ASSIGN(SweepRecord second, writer->CreateSweep("second", "", MakeJobs(1), kT0));
  ASSERT_OK_AND_ASSIGN(std::vector<SweepRecord> sweeps, reader->ListSweeps(10));
  ASSERT_EQ(sweeps.size(), 2u);
  EXPECT_EQ(sweeps[0].id, second.id);
  // And after the writer is gone.
  writer.reset();
  ASSERT_OK_AND_ASSIGN(JobRecord job, reader->GetJob(second.id + "-0"));
  EXPECT_EQ(job.state, JobState::kQueued);
}

TEST_F(SqliteStoreTest, DataSurvivesCloseAndReopen) {
  std::string job_id;
  std::string token;
  {
    auto store = OpenOrDie(Path());
    ASSERT_OK(store->CreateSweep("s", "source text", MakeJobs(2), kT0).status());
    ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store, "w", kT0));
    job_id = job->id;
    token = job->lease_token;
    ASSERT_OK(store->AppendMetrics(job_id, {Row(job_id, 3, "train", "loss", {0.25, 0.5})},
                                   Holding(token)));
    ASSERT_OK(store->UpsertWorker({"w", "host", 2, kT0}));
  }
  auto store = OpenOrDie(Path());
  ASSERT_OK_AND_ASSIGN(JobRecord job, store->GetJob(job_id));
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.lease_token, token);
  EXPECT_EQ(job.lease_expires_at, kT0 + kLease);
  ASSERT_OK_AND_ASSIGN(std::vector<SweepRecord> sweeps, store->ListSweeps(5));
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].source, "source text");
  MetricQuery query;
  query.job_ids = {job_id};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].values, ElementsAre(0.25, 0.5));
  ASSERT_OK_AND_ASSIGN(std::vector<WorkerRecord> workers, store->ListWorkers());
  EXPECT_EQ(workers.size(), 1u);
  // The lease is still honoured after the restart.
  ASSERT_OK(store->UpdateJob(job_id, Ending(token, JobState::kSucceeded, kT0)));
}

TEST_F(SqliteStoreTest, CommittedDataSurvivesKillDashNine) {
  const std::string path = Path();
  pid_t child = fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    // The child commits and dies without closing anything (no checkpoint, no destructors).
    auto store = SqliteStore::Open(path);
    if (!store.ok()) _exit(1);
    auto sweep = (*store)->CreateSweep("killed", "", MakeJobs(3), kT0);
    if (!sweep.ok()) _exit(2);
    auto job = Claim(**store, "w", kT0);
    if (!job.ok() || !job->has_value()) _exit(3);
    const std::string id = (*job)->id;
    if (!(*store)
             ->AppendMetrics(id, {Row(id, 1, "test", "loss", {7.0})}, Holding((*job)->lease_token))
             .ok()) {
      _exit(4);
    }
    kill(getpid(), SIGKILL);
    _exit(5);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  ASSERT_EQ(WTERMSIG(wstatus), SIGKILL);
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<SweepRecord> sweeps, store->ListSweeps(5));
  ASSERT_EQ(sweeps.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto counts, store->CountJobs(sweeps[0].id));
  EXPECT_EQ(CountOf(counts, JobState::kRunning), 1);
  EXPECT_EQ(CountOf(counts, JobState::kQueued), 2);
  MetricQuery query;
  query.job_ids = {sweeps[0].id + "-0"};
  ASSERT_OK_AND_ASSIGN(std::vector<MetricRow> rows, store->ReadMetrics(query));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_THAT(rows[0].values, ElementsAre(7.0));
}

TEST_F(SqliteStoreTest, MemoryStoreReadsThroughTheWriter) {
  SqliteStoreOptions options;
  options.read_connections = 8;  // Ignored for ":memory:": a pool would see empty databases.
  auto store = OpenOrDie(":memory:", options);
  ASSERT_OK_AND_ASSIGN(SweepRecord sweep, store->CreateSweep("m", "", MakeJobs(1), kT0));
  ASSERT_OK(store->GetSweep(sweep.id).status());
}

// Every lifecycle field takes part in Of, ApplyTo and ==; nothing else of a job does.
// ---------------------------------------------------------------------------------------------
// Sweep tags, notes, filters and deletion (schema v6)

TEST_F(SqliteStoreTest, UpgradesVersion5DatabaseToTagsAndNotes) {
  {
    // A version-5 file as released: the migrations up to 5 (steps are never edited).
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<internal::Connection> conn,
                         internal::Connection::Open(
                             Path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, absl::Seconds(5)));
    for (const internal::Migration& step : internal::Migrations()) {
      if (step.version > 5) break;
      ASSERT_OK(conn->Exec(step.sql));
    }
    ASSERT_OK(conn->Exec(
        "PRAGMA user_version = 5;"
        "INSERT INTO sweeps (seq, id, name, source, created_at, num_jobs) "
        "VALUES (1, 's-0000abcd', 'old', '', 1700000000000000, 1);"
        "INSERT INTO jobs (id, sweep_seq, idx, spec, summary_json, state, max_attempts, "
        "total_steps, created_at) VALUES ('s-0000abcd-0', 1, 0, x'0102', '{}', 3, 2, 10, "
        "1700000000000000);"));
  }
  {
    // Read-only cannot migrate: it says how to.
    SqliteStoreOptions read_only;
    read_only.read_only = true;
    EXPECT_THAT(
        SqliteStore::Open(Path(), read_only),
        StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("open it once writable")));
  }
  auto store = OpenOrDie(Path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(Path()).QueryText("PRAGMA user_version"), "6");
  ASSERT_OK_AND_ASSIGN(SweepRecord old, store->GetSweep("s-0000abcd"));
  EXPECT_THAT(old.tags, IsEmpty());
  EXPECT_EQ(old.note, "");
  ASSERT_OK_AND_ASSIGN(old, store->UpdateSweep("s-0000abcd", {"baseline"}, {}, "from v5"));
  EXPECT_THAT(old.tags, ElementsAre("baseline"));
  EXPECT_EQ(old.note, "from v5");
  ASSERT_OK_AND_ASSIGN(SweepDeletion deleted,
                       store->DeleteSweep("s-0000abcd", [](const std::vector<JobRecord>&) {
                         return absl::OkStatus();
                       }));
  EXPECT_EQ(deleted.jobs, 1);
  EXPECT_EQ(RawDb(Path()).QueryText("PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteStoreTest, SweepTagsAndNoteAreStoredAndUpdated) {
  auto store = OpenOrDie(Path());
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(
      SweepRecord sweep,
      store->CreateSweep("s", "", SweepAnnotations{{"paper1", "adam", "paper1"}, "first try"},
                         MakeJobs(1), kT0));
  EXPECT_THAT(sweep.tags, ElementsAre("adam", "paper1"));  // Sorted, once each.
  EXPECT_EQ(sweep.note, "first try");
  ASSERT_OK_AND_ASSIGN(
      sweep, store->UpdateSweep(sweep.id, {"final", "adam"}, {"paper1", "nope"}, std::nullopt));
  EXPECT_THAT(sweep.tags, ElementsAre("adam", "final"));
  EXPECT_EQ(sweep.note, "first try");  // Unset: unchanged.
  ASSERT_OK_AND_ASSIGN(sweep, store->UpdateSweep(sweep.id, {}, {}, ""));
  EXPECT_EQ(sweep.note, "");
  ASSERT_OK_AND_ASSIGN(SweepRecord reread, store->GetSweep(sweep.id));
  EXPECT_THAT(reread.tags, ElementsAre("adam", "final"));
  EXPECT_THAT(store->UpdateSweep("s-nope", {"x"}, {}, std::nullopt),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("s-nope")));
  EXPECT_THAT(store->UpdateSweep(sweep.id, {""}, {}, std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(store->CreateSweep("t", "", SweepAnnotations{{""}, ""}, MakeJobs(1), kT0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->ListSweeps(10), IsOkAndHolds(::testing::SizeIs(1)));  // Nothing created.
}

TEST_F(SqliteStoreTest, ListSweepsFiltersByTagNameAndJobStatesAndPages) {
  auto store = OpenOrDie(Path());
  ASSERT_NE(store, nullptr);
  // Oldest first: a (done), b (one running), c (queued), d (done, one failed).
  ASSERT_OK_AND_ASSIGN(
      SweepRecord a,
      store->CreateSweep("Adam-LR", "", SweepAnnotations{{"p1"}, ""}, MakeJobs(1), kT0));
  ASSERT_OK(store->UpdateJobs(Queued(), Ending("", JobState::kSucceeded, kT0)).status());
  ASSERT_OK_AND_ASSIGN(
      SweepRecord b,
      store->CreateSweep("sgd-lr", "", SweepAnnotations{{"p1", "final"}, ""}, MakeJobs(2), kT0));
  ASSERT_OK(Claim(*store, "w1", kT0).status());
  ASSERT_OK_AND_ASSIGN(SweepRecord c, store->CreateSweep("muon", "", MakeJobs(1), kT0));
  ASSERT_OK_AND_ASSIGN(
      SweepRecord d,
      store->CreateSweep("adam-wd", "", SweepAnnotations{{"final"}, ""}, MakeJobs(2), kT0));
  ASSERT_OK(store->UpdateJob(d.id + "-0", Ending("", JobState::kFailed, kT0)).status());
  ASSERT_OK(store->UpdateJob(d.id + "-1", Ending("", JobState::kSucceeded, kT0)).status());

  auto ids = [&](const SweepFilter& filter) -> std::vector<std::string> {
    absl::StatusOr<SweepPage> page = store->ListSweeps(filter);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const SweepRecord& s : page->sweeps) out.push_back(s.id);
    }
    return out;
  };
  SweepFilter all;
  EXPECT_THAT(ids(all), ElementsAre(d.id, c.id, b.id, a.id));  // Newest first.
  SweepFilter tagged;
  tagged.tags = {"p1"};
  EXPECT_THAT(ids(tagged), ElementsAre(b.id, a.id));
  tagged.tags = {"p1", "final"};  // Every tag.
  EXPECT_THAT(ids(tagged), ElementsAre(b.id));
  tagged.tags = {"nobody"};
  EXPECT_THAT(ids(tagged), IsEmpty());
  SweepFilter named;
  named.name_contains = "ADAM";  // ASCII case ignored.
  EXPECT_THAT(ids(named), ElementsAre(d.id, a.id));
  SweepFilter running;
  running.has_state = JobState::kRunning;
  EXPECT_THAT(ids(running), ElementsAre(b.id));
  SweepFilter failed;
  failed.has_state = JobState::kFailed;
  EXPECT_THAT(ids(failed), ElementsAre(d.id));
  SweepFilter active;
  active.progress = SweepFilter::Progress::kActive;
  EXPECT_THAT(ids(active), ElementsAre(c.id, b.id));
  SweepFilter done;
  done.progress = SweepFilter::Progress::kDone;
  EXPECT_THAT(ids(done), ElementsAre(d.id, a.id));
  done.name_contains = "wd";  // Conditions combine.
  EXPECT_THAT(ids(done), ElementsAre(d.id));

  // Pages of 3 then 1 cover every sweep once; the total counts every page.
  SweepFilter paged;
  paged.limit = 3;
  ASSERT_OK_AND_ASSIGN(SweepPage first, store->ListSweeps(paged));
  EXPECT_EQ(first.total, 4);
  ASSERT_EQ(first.sweeps.size(), 3u);
  ASSERT_FALSE(first.next_page_token.empty());
  paged.page_token = first.next_page_token;
  ASSERT_OK_AND_ASSIGN(SweepPage second, store->ListSweeps(paged));
  EXPECT_EQ(second.total, 4);
  ASSERT_EQ(second.sweeps.size(), 1u);
  EXPECT_EQ(second.sweeps[0].id, a.id);
  EXPECT_TRUE(second.next_page_token.empty());
  tagged.tags = {"final"};
  tagged.limit = 1;
  ASSERT_OK_AND_ASSIGN(SweepPage one, store->ListSweeps(tagged));
  EXPECT_EQ(one.total, 2);
  EXPECT_FALSE(one.next_page_token.empty());

  paged.page_token = "garbage";
  EXPECT_THAT(store->ListSweeps(paged),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'garbage'")));
  paged.page_token.clear();
  paged.limit = 0;
  EXPECT_THAT(store->ListSweeps(paged),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 0")));
}

TEST_F(SqliteStoreTest, DeleteSweepRemovesEverythingOfItsJobsAndNothingElse) {
  auto store = OpenOrDie(Path());
  ASSERT_NE(store, nullptr);
  // Two sweeps alike: metrics, a checkpoint and a finished kept model each, and tags.
  std::vector<SweepRecord> sweeps;
  const std::string model = ModelBytes(300);
  for (const char* name : {"keep", "drop"}) {
    ASSERT_OK_AND_ASSIGN(
        SweepRecord sweep,
        store->CreateSweep(name, "", SweepAnnotations{{name}, "n"}, MakeJobs(2), kT0));
    sweeps.push_back(sweep);
    for (int i = 0; i < 2; ++i) {
      ASSERT_OK_AND_ASSIGN(std::optional<JobRecord> job, Claim(*store, "w1", kT0));
      ASSERT_TRUE(job.has_value());
      const std::string& token = job->lease_token;
      ASSERT_OK(store
                    ->AppendMetrics(job->id,
                                    {Row(job->id, 0, "train", "loss", {1, 2}),
                                     Row(job->id, 1, "train", "loss", {0.5, 1})},
                                    Holding(token))
                    .status());
      ASSERT_OK(store->SaveCheckpoint(job->id, 1, "state", 2, Holding(token)));
      ASSERT_OK(store->SaveKeptModelChunk(job->id, Piece(model, 0, 300), Holding(token)).status());
    }
  }
  const SweepRecord& keep = sweeps[0];
  const SweepRecord& drop = sweeps[1];
  RawDb raw(Path());
  auto rows = [&](const std::string& table) {
    return raw.QueryText(absl::StrCat("SELECT count(*) FROM ", table));
  };
  ASSERT_EQ(rows("metrics"), "8");
  ASSERT_EQ(rows("checkpoints"), "4");
  ASSERT_EQ(rows("kept_models"), "4");

  // A refusal deletes nothing.
  EXPECT_THAT(store->DeleteSweep(drop.id,
                                 [](const std::vector<JobRecord>& jobs) {
                                   return jobs.size() == 2 && jobs[1].state == JobState::kRunning
                                              ? absl::FailedPreconditionError("test: running")
                                              : absl::OkStatus();
                                 }),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("test: running")));
  EXPECT_EQ(rows("metrics"), "8");
  EXPECT_OK(store->GetSweep(drop.id).status());

  ASSERT_OK_AND_ASSIGN(
      SweepDeletion deleted,
      store->DeleteSweep(drop.id, [](const std::vector<JobRecord>&) { return absl::OkStatus(); }));
  EXPECT_EQ(deleted.jobs, 2);
  EXPECT_EQ(deleted.metric_rows, 4);
  EXPECT_EQ(deleted.checkpoints, 2);
  EXPECT_EQ(deleted.kept_models, 2);
  EXPECT_THAT(store->GetSweep(drop.id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->GetJob(drop.id + "-0"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(raw.QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.QueryText("PRAGMA foreign_key_check"), "");
  // What is left is exactly the other sweep's.
  EXPECT_EQ(rows("sweeps"), "1");
  EXPECT_EQ(rows("jobs"), "2");
  EXPECT_EQ(rows("metrics"), "4");
  EXPECT_EQ(rows("checkpoints"), "2");
  EXPECT_EQ(rows("kept_models"), "2");
  EXPECT_EQ(rows("kept_model_pieces"), "2");
  EXPECT_EQ(rows("sweep_tags"), "1");
  ASSERT_OK_AND_ASSIGN(SweepRecord kept, store->GetSweep(keep.id));
  EXPECT_THAT(kept.tags, ElementsAre("keep"));
  MetricQuery query;
  query.job_ids = {keep.id + "-0", keep.id + "-1"};
  EXPECT_THAT(store->ReadMetrics(query), IsOkAndHolds(::testing::SizeIs(4)));
  EXPECT_THAT(Download(*store, keep.id + "-1"), IsOkAndHolds(model));
  EXPECT_THAT(
      store->DeleteSweep(drop.id, [](const std::vector<JobRecord>&) { return absl::OkStatus(); }),
      StatusIs(absl::StatusCode::kNotFound));
}

TEST(JobUpdateTest, OfApplyToAndEqualityCoverEveryLifecycleField) {
  JobRecord job;
  job.id = "s-1-0";
  job.spec = "spec";
  job.max_attempts = 4;
  job.num_classes = 2;
  JobUpdate update;
  update.state = JobState::kRunning;
  update.attempt = 2;
  update.worker_id = "w";
  update.lease_token = "t";
  update.lease_expires_at = kT0 + kLease;
  update.progress_step = 5;
  update.cancel_requested = true;
  update.error = "e";
  update.started_at = kT0;
  update.finished_at = kT0 + absl::Hours(1);
  update.ApplyTo(&job);
  EXPECT_EQ(JobUpdate::Of(job), update);
  EXPECT_EQ(job.id, "s-1-0");
  EXPECT_EQ(job.spec, "spec");
  EXPECT_EQ(job.max_attempts, 4);
  EXPECT_EQ(job.num_classes, 2);
  const std::vector<std::function<void(JobUpdate&)>> changes = {
      [](JobUpdate& u) { u.state = JobState::kFailed; },
      [](JobUpdate& u) { u.attempt = 3; },
      [](JobUpdate& u) { u.worker_id = "x"; },
      [](JobUpdate& u) { u.lease_token = "x"; },
      [](JobUpdate& u) { u.lease_expires_at = absl::InfinitePast(); },
      [](JobUpdate& u) { u.progress_step = 6; },
      [](JobUpdate& u) { u.cancel_requested = false; },
      [](JobUpdate& u) { u.error = "x"; },
      [](JobUpdate& u) { u.started_at = absl::InfinitePast(); },
      [](JobUpdate& u) { u.finished_at = absl::InfinitePast(); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    JobUpdate changed = update;
    changes[i](changed);
    EXPECT_NE(changed, update) << "field " << i;
    JobRecord applied = job;
    changed.ApplyTo(&applied);
    EXPECT_EQ(JobUpdate::Of(applied), changed) << "field " << i;
  }
}

TEST(JobStateTest, NamesAndTerminalStates) {
  EXPECT_STREQ(JobStateName(JobState::kQueued), "queued");
  EXPECT_STREQ(JobStateName(JobState::kCancelled), "cancelled");
  EXPECT_FALSE(IsTerminal(JobState::kQueued));
  EXPECT_FALSE(IsTerminal(JobState::kRunning));
  EXPECT_TRUE(IsTerminal(JobState::kSucceeded));
  EXPECT_TRUE(IsTerminal(JobState::kFailed));
  EXPECT_TRUE(IsTerminal(JobState::kDiverged));
  EXPECT_TRUE(IsTerminal(JobState::kCancelled));
}

}  // namespace
}  // namespace optbench::storage
