#include "client/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/png.h"
#include "common/clock.h"
#include "common/flags_usage.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "proto/convert.h"
#include "report/format.h"
#include "report/plot.h"
#include "report/profile.h"
#include "server/coordinator.h"
#include "server/coordinator_service.h"
#include "server/scheduler.h"
#include "server/wire.h"
#include "storage/sqlite_store.h"
#include "worker/engine/catalog.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/run_job.h"
#include "worker/kept_model_pieces.h"
#include "worker/worker.h"

namespace optbench::client {
namespace {

constexpr char kUsage[] = R"(optbench - optimizer benchmark service

usage: optbench COMMAND [ARGS] [FLAGS]

  run SWEEP_FILE        run a sweep on this machine: an embedded coordinator and workers
                        over a local SQLite file, live progress, then a per-group table
      --db PATH           database file (default ./optbench.db)
      --workers N         jobs trained at once (default: number of cores; 1 with --threads)
      --threads T         threads for each job's matrix products (default 1; results are
                          the same for any T; needs a build with OpenBLAS for T > 1)
      --groups G          frequency groups in the final table (default 10)
  submit SWEEP_FILE     send a sweep to a coordinator; prints the sweep id
      --dry-run           validate and list the expanded jobs, create nothing (a sweep
                          with a source asks the coordinator, which resolves it)
      --name NAME         sweep name (default: the file's `name:` or its stem)
      --tag T             a tag, added to the file's `tags:` (repeatable)
      --note TEXT         the sweep's note, instead of the file's `note:`
  status                jobs per state, workers, the newest sweeps (with how many more)
      --db PATH           read a database file directly (read-only) instead of a coordinator
  health                the coordinator's grpc.health.v1 answer; exit 0 only when SERVING
                        (a probe: needs no token)
      --service NAME      one service (optbench.v1.Coordinator, optbench.v1.WorkerService);
                          default: the whole server
      --timeout_seconds S wait this long for an answer (default 5)
  list [SWEEP]          jobs (of one sweep, or all) with state, attempt, worker, progress,
                        kept model size
      --state STATE       only jobs in this state (queued, running, succeeded, ...)
      --db PATH           read a database file directly (read-only)
  list tasks|optimizers|models|datasets|objectives
                        registered tasks and components: hyperparameters, defaults, ranges
  list metrics          the metrics each task and component declares, as query names
  sweeps                sweeps newest first, with tags and notes; every filter given holds
      --tag T             sweeps with this tag (repeatable: every one of them)
      --name SUBSTRING    names containing it, in any case
      --state S           sweeps with a job in state S (queued, running, succeeded, failed,
                          diverged, cancelled), or active (a job queued or running) or done
                          (every job finished)
      --limit N           sweeps per page (default 20, at most 1000)
      --page-token TOKEN  the next page (the last line of a full page gives the command)
      --db PATH           read a database file directly (read-only)
  watch SWEEP_OR_JOB    progress until every job is done: labels that tell jobs apart, the
                        latest train loss, an ETA per running job
      --once              every job's state, progress, loss and ETA now, then exit
      --db PATH           read a database file (polled twice a second until every job is done)
  cancel SWEEP_OR_JOB   cancel queued jobs now and running ones at their next step
  tag SWEEP             change a sweep's tags and note (needs the submit role)
      --add T, --remove T   a tag to add or remove (each repeatable)
      --note TEXT         replace the note ('' clears it)
  delete SWEEP          remove a sweep with its jobs, metrics, checkpoints and kept models, in
                        one transaction, for good (needs the submit role)
      --yes               required: without it nothing is deleted
      --force             cancel the sweep and wait until its running jobs stop, then delete
                          (without it a sweep with a running job is refused)
  query SWEEP_OR_JOB... metric series of one or more sweeps or jobs (each job once), side by
                        side: to compare sweeps
      --metric M          a metric the jobs declare (optbench list metrics); default: their
                          objective's loss
      --split S           train (default) or test
      --group-by G        frequency:N (default frequency:10), class, or none
      --steps A:B         only steps A..B (either side may be empty)
      --format F          table (default), csv or json
      --aggregate seed    over seeds: per setting (the labels but seed), step and group the
                          mean, std (n - 1), n and 95 % Student-t interval; each step over the
                          jobs that have it, NaN values left out of n
      --db PATH           read a database file directly (read-only) instead of a coordinator
  export JOB --out FILE  the model a job kept, checked (size, FNV-1a) as its pieces arrive: a
                        quantize job's quantized model (docs/QUANTIZED_FORMAT.md) or a train
                        job's parameters (trainer.keep_model)
      --db PATH           read a database file directly (read-only) instead of a coordinator
  plot SWEEP_OR_JOB...  SVG or PNG figure of the jobs of every sweep or job given, axes shared
      --layout L          group (default): a panel per frequency group, a line per job;
                          job: a panel per job, a line per group
      --groups G          frequency groups (default 10)
      --aggregate seed    settings instead of jobs: the mean over seeds, its 95 % interval
                          shaded
      --metric M, --split S, --steps A:B, --db PATH   as for query
      --log-y             logarithmic y axis (values <= 0 are left out, like NaN)
      --log-x             logarithmic step axis (step 0 cannot be drawn on it: left out)
      --reference R       dashed line at y = R: a number, or log-c (log of the class count,
                          the loss of a uniform prediction)
      --title T           figure title (default: the sweeps' names; a job's id)
      --columns N         panels per row (default up to 5 by group, 3 by job)
      --width W, --height H   figure size in pixels (default from the number of panels)
      --out FILE          write the figure there, SVG or PNG by the name's extension (.svg,
                          .png); default: SVG to standard output
      --format F          svg or png, for standard output or an --out of another name; PNG
                          goes to standard output only when that is not a terminal
  profile SWEEP_OR_JOB... --target T
                        time to target, as AlgoPerf: per sweep (a workload) and optimizer the
                        steps and wall seconds its best setting needs to reach T (the first
                        evaluation at or past T, not interpolated), then the performance profile:
                        per optimizer the fraction of workloads solved within tau x the best time
                        (Dolan-More). Best setting: the smallest median time over its seeds (a
                        seed that never reaches counts as infinite), ties to the better median
                        final value, then the first; none reaching: the workload is failed
      --target T          the value to reach (required)
      --metric M, --split S, --db PATH   as for query (default: the objective's loss, train)
      --goal min|max      reach T from above (min) or below (max); default: max for a
                          metric declared higher-is-better (accuracy, p_true, ...), else min
      --group N|rarest    frequency group N (1 = most frequent) or the rarest (= G) instead of
                          the overall value
      --groups G          frequency groups (default 10)
      --time steps|seconds   what time is: evaluated steps (default, deterministic) or the
                          jobs' wall_seconds (depend on the machine); the best setting is
                          chosen by it
      --format F          table (default), csv or json
      --out FILE          also draw the profile, SVG or PNG by the name (.svg, .png): tau on a
                          log axis from 1 to --tau-max
      --bars FILE         also draw time to target as bars (.svg or .png): per workload a bar
                          per optimizer, its best setting's median time; not reached: marked
      --tau-max X         right end of the figure's tau axis (default 4, as AlgoPerf's score)
      --title T           figure title

Common flags (every command that talks to a coordinator):
  --coordinator HOST:PORT   coordinator to talk to (default $OPTBENCH_COORDINATOR or
                            127.0.0.1:7070)
  --token_file FILE         bearer token (default $OPTBENCH_TOKEN)
  --tls_ca FILE             PEM CA of the coordinator's certificate (enables TLS)
  --tls_cert FILE --tls_key FILE   client certificate for mutual TLS
)";

// `optbench COMMAND --help`: the command's lines of kUsage (from "  COMMAND" to the next
// command; `list` has three), then the common flags.
std::string CommandUsage(const std::string& command) {
  std::vector<absl::string_view> lines = absl::StrSplit(kUsage, '\n');
  std::string out = absl::StrCat("usage: optbench ", command, " ...\n");
  bool in_command = false;
  bool in_common = false;
  for (absl::string_view line : lines) {
    const bool starts_command = absl::StartsWith(line, "  ") && line.size() > 2 && line[2] != ' ';
    if (starts_command) {
      in_command =
          absl::StartsWith(line.substr(2), absl::StrCat(command, " ")) || line.substr(2) == command;
    }
    if (absl::StartsWith(line, "Common flags")) in_common = true;
    if (in_command || in_common) absl::StrAppend(&out, line, "\n");
    if (line.empty()) in_command = false;
  }
  return out;
}

// How remote calls are made: set once per command from the common flags.
struct CallConfig {
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};
CallConfig& Calls() {
  static CallConfig* config = new CallConfig{"", grpc::InsecureChannelCredentials()};
  return *config;
}

// ---- argument parsing -------------------------------------------------------------------------

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;  // "--db" -> "x.db"; boolean flags -> "true".
  // Flags that may be given more than once (RepeatedFlags), every value in order.
  std::map<std::string, std::vector<std::string>> lists;
};

const std::set<std::string>& BoolFlags() {
  static const auto* flags = new std::set<std::string>{
      "--dry-run", "--no-progress", "--log-y", "--log-x", "--yes", "--force", "--once"};
  return *flags;
}

const std::set<std::string>& RepeatedFlags() {
  static const auto* flags = new std::set<std::string>{"--tag", "--add", "--remove"};
  return *flags;
}

absl::StatusOr<Args> ParseArgs(const std::vector<std::string>& raw,
                               const std::set<std::string>& allowed, const std::string& command) {
  Args args;
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string& a = raw[i];
    if (!absl::StartsWith(a, "--")) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a;
    std::string value;
    bool has_value = false;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (allowed.count(name) == 0) {
      std::vector<std::string> known(allowed.begin(), allowed.end());
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name, " for '", command,
                                                     "'; known: ", absl::StrJoin(known, " ")));
    }
    if (BoolFlags().count(name) != 0) {
      args.flags[name] = has_value ? value : "true";
      continue;
    }
    if (!has_value) {
      if (i + 1 >= raw.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag ", name, " needs a value"));
      }
      value = raw[++i];
    }
    args.flags[name] = value;
    if (RepeatedFlags().count(name) != 0) args.lists[name].push_back(value);
  }
  return args;
}

std::vector<std::string> ListFlag(const Args& args, const std::string& name) {
  auto it = args.lists.find(name);
  return it == args.lists.end() ? std::vector<std::string>() : it->second;
}

std::string Flag(const Args& args, const std::string& name, const std::string& def = "") {
  auto it = args.flags.find(name);
  return it == args.flags.end() ? def : it->second;
}

bool BoolFlag(const Args& args, const std::string& name) {
  const std::string v = Flag(args, name, "false");
  return v == "true" || v == "1" || v == "yes";
}

std::string CoordinatorAddress(const Args& args) {
  std::string def = "127.0.0.1:7070";
  if (const char* env = std::getenv("OPTBENCH_COORDINATOR"); env != nullptr && *env != '\0') {
    def = env;
  }
  return Flag(args, "--coordinator", def);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- talking to a coordinator ------------------------------------------------------------------

// A channel and stub to the coordinator named by --coordinator, with the common TLS flags.
class RemoteBackend {
 public:
  explicit RemoteBackend(const std::string& address) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    stub_ = v1::Coordinator::NewStub(grpc::CreateCustomChannel(address, Calls().credentials, args));
  }
  v1::Coordinator::StubInterface* stub() { return stub_.get(); }

 private:
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

// Where a read verb reads: the coordinator named by --coordinator or, with --db, the database file
// itself, opened read-only and answered by a CoordinatorService served in this process over an
// in-process channel. The same service code answers either way, and the file may be read while
// a coordinator writes it (WAL).
class ReadBackend {
 public:
  static absl::StatusOr<std::unique_ptr<ReadBackend>> Open(const Args& args) {
    std::unique_ptr<ReadBackend> backend(new ReadBackend());
    const std::string db = Flag(args, "--db");
    if (db.empty()) {
      backend->where_ = absl::StrCat("coordinator ", CoordinatorAddress(args));
      backend->remote_ = std::make_unique<RemoteBackend>(CoordinatorAddress(args));
      return backend;
    }
    backend->where_ = absl::StrCat("database ", db, " (read-only)");
    storage::SqliteStoreOptions options;
    options.read_only = true;
    auto store = storage::SqliteStore::Open(db, options);
    if (!store.ok()) return store.status();
    backend->store_ = *std::move(store);
    backend->scheduler_ = std::make_unique<server::Scheduler>(backend->store_.get(), Clock::Real(),
                                                              server::SchedulerOptions());
    backend->service_ = std::make_unique<server::CoordinatorService>(
        backend->scheduler_.get(), &engine::Catalog(), server::SubmitLimits());
    grpc::ServerBuilder builder;
    builder.RegisterService(backend->service_.get());
    backend->server_ = builder.BuildAndStart();
    if (backend->server_ == nullptr) {
      return absl::InternalError("cannot start the in-process reader of the database");
    }
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(256 << 20);
    backend->stub_ = v1::Coordinator::NewStub(backend->server_->InProcessChannel(channel_args));
    return backend;
  }

  ~ReadBackend() {
    if (service_ != nullptr) service_->BeginShutdown();
    if (server_ != nullptr) server_->Shutdown();
  }

  v1::Coordinator::StubInterface* stub() {
    return remote_ != nullptr ? remote_->stub() : stub_.get();
  }
  // Reading a database file rather than asking a coordinator.
  bool is_file() const { return store_ != nullptr; }
  // "coordinator 127.0.0.1:7070" or "database optbench.db (read-only)".
  const std::string& where() const { return where_; }

 private:
  ReadBackend() = default;

  std::string where_;
  std::unique_ptr<RemoteBackend> remote_;
  // Declared in the order they are built: destroyed in reverse.
  std::unique_ptr<storage::SqliteStore> store_;
  std::unique_ptr<server::Scheduler> scheduler_;
  std::unique_ptr<server::CoordinatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  if (!Calls().token.empty()) context->AddMetadata("authorization", "Bearer " + Calls().token);
  return context;
}

// Reports an RPC failure in the house format and returns the exit code.
int Fail(std::ostream& err, const std::string& what, const absl::Status& status) {
  err << "optbench " << what << ": " << status.message();
  if (status.code() == absl::StatusCode::kUnavailable) {
    err << " (is a coordinator running there? see --coordinator)";
  }
  err << "\n";
  return 1;
}

int FailGrpc(std::ostream& err, const std::string& what, const grpc::Status& status) {
  return Fail(err, what, FromGrpcStatus(status));
}

// A target given on the command line is a sweep id or a job id; try the sweep first.
struct Target {
  std::string sweep_id;
  std::string job_id;
  std::string sweep_name;  // the sweep's name, when the target is a sweep that has one
};

absl::StatusOr<Target> ResolveTarget(v1::Coordinator::StubInterface* stub, const std::string& id) {
  v1::GetSweepRequest sr;
  sr.set_sweep_id(id);
  v1::Sweep sweep;
  grpc::Status s = stub->GetSweep(Context().get(), sr, &sweep);
  if (s.ok()) return Target{id, "", sweep.name()};
  if (s.error_code() != grpc::StatusCode::NOT_FOUND) return FromGrpcStatus(s);
  v1::GetJobRequest jr;
  jr.set_job_id(id);
  v1::Job job;
  s = stub->GetJob(Context().get(), jr, &job);
  if (s.ok()) return Target{"", id, ""};
  if (s.error_code() != grpc::StatusCode::NOT_FOUND) return FromGrpcStatus(s);
  return absl::NotFoundError(absl::StrCat("no sweep or job with id '", id, "'"));
}

absl::StatusOr<std::vector<v1::Job>> ListAllJobs(v1::Coordinator::StubInterface* stub,
                                                 const std::string& sweep_id, v1::JobState state) {
  std::vector<v1::Job> jobs;
  v1::ListJobsRequest request;
  request.set_sweep_id(sweep_id);
  request.set_state(state);
  request.set_page_size(1000);
  while (true) {
    v1::ListJobsResponse response;
    grpc::Status s = stub->ListJobs(Context().get(), request, &response);
    if (!s.ok()) return FromGrpcStatus(s);
    for (auto& j : *response.mutable_jobs()) jobs.push_back(std::move(j));
    if (response.next_page_token().empty()) return jobs;
    request.set_page_token(response.next_page_token());
  }
}

// ---- progress display --------------------------------------------------------------------------

// Draws the jobs of a watch event: on a terminal, a redrawn block of bars; otherwise one line
// per state change.
class Progress {
 public:
  // `losses` (may be empty) gives the latest loss of each job by id; the display asks it at most
  // every two seconds.
  using Losses = std::function<std::map<std::string, double>()>;
  Progress(std::ostream& out, bool tty, Losses losses = nullptr)
      : out_(out), tty_(tty), fetch_losses_(std::move(losses)) {}

  void Update(const v1::WatchEvent& event) {
    if (tty_) {
      Redraw(event);
    } else {
      Log(event);
    }
  }

 private:
  static std::string Bar(double fraction, int width) {
    const int filled = static_cast<int>(fraction * width + 0.5);
    return absl::StrCat(std::string(std::max(0, filled), '#'),
                        std::string(std::max(0, width - filled), '.'));
  }

  void Redraw(const v1::WatchEvent& event) {
    std::vector<std::string> lines;
    int64_t done_steps = 0;
    int64_t total_steps = 0;
    int finished = 0;
    std::map<std::string, int> states;
    for (const v1::Job& j : event.jobs()) {
      const bool terminal = j.state() >= v1::JOB_STATE_SUCCEEDED;
      done_steps += terminal ? j.total_steps() : j.progress_step();
      total_steps += j.total_steps();
      finished += terminal ? 1 : 0;
      states[report::StateName(j.state())]++;
    }
    std::vector<std::string> counts;
    for (const auto& [name, n] : states) counts.push_back(absl::StrCat(n, " ", name));
    const double fraction = total_steps > 0 ? double(done_steps) / total_steps : 0.0;
    lines.push_back(absl::StrFormat("sweep [%s] %3.0f%%  %d/%d jobs done (%s)", Bar(fraction, 30),
                                    100 * fraction, finished, event.jobs_size(),
                                    absl::StrJoin(counts, ", ")));
    // Titles from every job of the sweep, so that two running jobs never read the same.
    std::vector<const v1::Job*> all;
    for (const v1::Job& j : event.jobs()) all.push_back(&j);
    const std::vector<std::string> titles = report::DistinguishingTitles(all);
    size_t width = 0;
    for (const std::string& t : titles) width = std::max(width, t.size());
    width = std::min<size_t>(width, 60);
    const absl::Time now = absl::Now();
    if (fetch_losses_ != nullptr && now - losses_at_ >= absl::Seconds(2)) {
      losses_ = fetch_losses_();
      losses_at_ = now;
    }
    int shown = 0;
    for (int i = 0; i < event.jobs_size(); ++i) {
      const v1::Job& j = event.jobs(i);
      if (j.state() != v1::JOB_STATE_RUNNING || shown >= 12) continue;
      ++shown;
      const double f = j.total_steps() > 0 ? double(j.progress_step()) / j.total_steps() : 0.0;
      auto loss = losses_.find(j.id());
      lines.push_back(absl::StrFormat(
          "  %-*.*s [%s] %6d/%d  loss %s  eta %s", static_cast<int>(width), static_cast<int>(width),
          titles[i], Bar(f, 20), j.progress_step(), j.total_steps(),
          loss == losses_.end() ? "-" : absl::StrFormat("%.4g", loss->second),
          report::FormatEta(j, now)));
    }
    if (drawn_ > 0) out_ << "\x1b[" << drawn_ << "A";
    for (const std::string& line : lines) out_ << "\x1b[2K" << line << "\n";
    out_ << "\x1b[J" << std::flush;
    drawn_ = static_cast<int>(lines.size());
  }

  void Log(const v1::WatchEvent& event) {
    for (const v1::Job& j : event.jobs()) {
      auto [it, inserted] = last_state_.emplace(j.id(), j.state());
      if (!inserted && it->second == j.state()) continue;
      it->second = j.state();
      if (j.state() == v1::JOB_STATE_QUEUED && inserted) continue;
      out_ << "  " << j.id() << " " << report::StateName(j.state()) << "  (" << report::JobTitle(j)
           << ")";
      if (!j.error().empty()) out_ << ": " << j.error();
      out_ << "\n" << std::flush;
    }
  }

  std::ostream& out_;
  const bool tty_;
  const Losses fetch_losses_;
  std::map<std::string, double> losses_;
  absl::Time losses_at_ = absl::InfinitePast();
  int drawn_ = 0;
  std::map<std::string, v1::JobState> last_state_;
};

// Streams Watch events into `progress` until every job is terminal. Returns the last event.
// `progress` may be null. `timeout`: DEADLINE_EXCEEDED when the jobs are still not done then.
absl::StatusOr<v1::WatchEvent> WatchUntilDone(v1::Coordinator::StubInterface* stub,
                                              const Target& target, Progress* progress,
                                              absl::Duration timeout = absl::InfiniteDuration()) {
  v1::WatchRequest request;
  if (!target.sweep_id.empty()) {
    request.set_sweep_id(target.sweep_id);
  } else {
    request.set_job_id(target.job_id);
  }
  grpc::ClientContext context;
  if (timeout != absl::InfiniteDuration()) {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  }
  if (!Calls().token.empty()) context.AddMetadata("authorization", "Bearer " + Calls().token);
  auto reader = stub->Watch(&context, request);
  v1::WatchEvent event;
  v1::WatchEvent last;
  while (reader->Read(&event)) {
    if (progress != nullptr) progress->Update(event);
    last = event;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  return last;
}

// The latest value of each job's primary metric (its objective's loss) on the train split, by
// job id; empty when the query fails (the display then shows none).
std::map<std::string, double> LatestLosses(v1::Coordinator::StubInterface* stub,
                                           const Target& target) {
  v1::QueryMetricsRequest request;
  if (!target.sweep_id.empty()) {
    request.set_sweep_id(target.sweep_id);
  } else {
    request.set_job_id(target.job_id);
  }
  request.set_split(v1::SPLIT_TRAIN);
  request.set_group_by(v1::GROUP_BY_NONE);
  v1::QueryMetricsResponse response;
  std::map<std::string, double> losses;
  if (!stub->QueryMetrics(Context().get(), request, &response).ok()) return losses;
  for (const v1::Series& series : response.series()) {
    if (series.points().empty() || series.points().rbegin()->values().empty()) continue;
    losses[series.job().id()] = series.points().rbegin()->values(0);
  }
  return losses;
}

bool IsStdoutTty(std::ostream& out) { return &out == &std::cout && isatty(STDOUT_FILENO); }

// ---- commands ----------------------------------------------------------------------------------

absl::StatusOr<v1::GroupBy> ParseGroupBy(const std::string& text, int* groups) {
  if (text == "class") return v1::GROUP_BY_CLASS;
  if (text == "none") return v1::GROUP_BY_NONE;
  if (text == "frequency") {
    *groups = 10;
    return v1::GROUP_BY_FREQUENCY;
  }
  if (absl::StartsWith(text, "frequency:")) {
    if (!absl::SimpleAtoi(text.substr(10), groups) || *groups < 1 || *groups > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--group-by: '", text, "': N in frequency:N must be 1..1000"));
    }
    return v1::GROUP_BY_FREQUENCY;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--group-by: '", text, "' is not one of frequency:N, frequency, class, none"));
}

absl::Status ParseSteps(const std::string& text, v1::QueryMetricsRequest* request) {
  if (text.empty()) return absl::OkStatus();
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int64_t lo = 0;
  int64_t hi = std::numeric_limits<int64_t>::max();
  if (parts.size() != 2 || (!parts[0].empty() && !absl::SimpleAtoi(parts[0], &lo)) ||
      (!parts[1].empty() && !absl::SimpleAtoi(parts[1], &hi)) || lo < 0 || hi < lo) {
    return absl::InvalidArgumentError(
        absl::StrCat("--steps: '", text, "' is not A:B with 0 <= A <= B (either may be empty)"));
  }
  request->set_min_step(lo);
  if (!parts[1].empty()) request->set_max_step(hi);
  return absl::OkStatus();
}

// The flags `query` and `plot` share: --metric, --split and --steps.
absl::Status ParseSeriesFlags(const Args& args, v1::QueryMetricsRequest* request) {
  request->set_metric(Flag(args, "--metric"));
  const std::string split = Flag(args, "--split", "train");
  if (split != "train" && split != "test") {
    return absl::InvalidArgumentError(absl::StrCat("--split: '", split, "' is not train or test"));
  }
  request->set_split(split == "test" ? v1::SPLIT_TEST : v1::SPLIT_TRAIN);
  return ParseSteps(Flag(args, "--steps"), request);
}

// --aggregate: empty (none) or "seed".
absl::Status ParseAggregate(const Args& args, v1::QueryMetricsRequest* request) {
  const std::string aggregate = Flag(args, "--aggregate");
  if (!aggregate.empty() && aggregate != "seed") {
    return absl::InvalidArgumentError(
        absl::StrCat("--aggregate: '", aggregate, "' is not accepted; accepted: seed"));
  }
  request->set_aggregate(aggregate);
  return absl::OkStatus();
}

// Runs `request` for the sweep or job `id` where --db or --coordinator says. `name` (may be null)
// is set to the sweep's name, or `id` for a job or a sweep without one.
absl::StatusOr<v1::QueryMetricsResponse> FetchMetrics(const Args& args, const std::string& id,
                                                      v1::QueryMetricsRequest request,
                                                      std::string* name = nullptr) {
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return backend.status();
  auto target = ResolveTarget((*backend)->stub(), id);
  if (!target.ok()) return target.status();
  if (name != nullptr) *name = target->sweep_name.empty() ? id : target->sweep_name;
  if (!target->sweep_id.empty()) {
    request.set_sweep_id(target->sweep_id);
  } else {
    request.set_job_id(target->job_id);
  }
  v1::QueryMetricsResponse response;
  grpc::Status s = (*backend)->stub()->QueryMetrics(Context().get(), request, &response);
  if (!s.ok()) return FromGrpcStatus(s);
  return response;
}

// The series of every id in `ids` (sweeps or jobs) in one response: each id queried as
// FetchMetrics does, in order, a job named twice (or also through its sweep) kept once. `names`
// (may be null) gets FetchMetrics' name of each id, in order.
absl::StatusOr<v1::QueryMetricsResponse> FetchMetricsOfAll(
    const Args& args, const std::vector<std::string>& ids, const v1::QueryMetricsRequest& request,
    std::vector<std::string>* names = nullptr) {
  v1::QueryMetricsResponse all;
  std::set<std::string> jobs;
  for (const std::string& id : ids) {
    std::string name;
    auto one = FetchMetrics(args, id, request, &name);
    if (!one.ok()) return one.status();
    if (names != nullptr) names->push_back(name);
    for (v1::Series& series : *one->mutable_series()) {
      if (jobs.insert(series.job().id()).second) *all.add_series() = std::move(series);
    }
    for (v1::AggregateSeries& aggregate : *one->mutable_aggregates()) {
      *all.add_aggregates() = std::move(aggregate);
    }
  }
  return all;
}

int CmdQuery(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.empty()) {
    err << "usage: optbench query SWEEP_OR_JOB... [--metric M] [--split S] [--group-by G] "
           "[--steps A:B] [--format table|csv|json] [--aggregate seed] "
           "[--db PATH | --coordinator ADDR]\n";
    return 2;
  }
  v1::QueryMetricsRequest request;
  if (absl::Status s = ParseSeriesFlags(args, &request); !s.ok()) {
    err << "optbench query: " << s.message() << "\n";
    return 2;
  }
  int groups = 10;
  auto group_by = ParseGroupBy(Flag(args, "--group-by", "frequency:10"), &groups);
  if (!group_by.ok()) {
    err << "optbench query: " << group_by.status().message() << "\n";
    return 2;
  }
  request.set_group_by(*group_by);
  request.set_groups(groups);
  const std::string format = Flag(args, "--format", "table");
  if (format != "table" && format != "csv" && format != "json") {
    err << "optbench query: --format: '" << format << "' is not table, csv or json\n";
    return 2;
  }
  if (absl::Status s = ParseAggregate(args, &request); !s.ok()) {
    err << "optbench query: " << s.message() << "\n";
    return 2;
  }
  const std::string& aggregate = request.aggregate();

  auto response = FetchMetricsOfAll(args, args.positional, request);
  if (!response.ok()) return Fail(err, "query", response.status());
  const bool no_points =
      std::all_of(response->series().begin(), response->series().end(),
                  [](const v1::Series& series) { return series.points().empty(); });
  if (no_points && !Flag(args, "--steps").empty()) {
    // Told apart from "nothing yet": which steps the jobs do have.
    v1::QueryMetricsRequest all = request;
    all.set_min_step(0);
    all.clear_max_step();
    all.set_group_by(v1::GROUP_BY_NONE);
    auto whole = FetchMetricsOfAll(args, args.positional, all);
    int64_t first = std::numeric_limits<int64_t>::max();
    int64_t last = -1;
    if (whole.ok()) {
      for (const v1::Series& series : whole->series()) {
        for (const v1::SeriesPoint& p : series.points()) {
          first = std::min(first, p.step());
          last = std::max(last, p.step());
        }
      }
    }
    if (last >= 0) {
      err << "optbench query: --steps " << Flag(args, "--steps")
          << ": no evaluation in that range; the jobs have evaluations at steps " << first << ".."
          << last << "\n";
      return 1;
    }
  }
  if (no_points && format == "table") {
    // The jobs declare the metric but have not reported it yet.
    std::map<std::string, int> states;
    for (const v1::Series& series : response->series())
      states[report::StateName(series.job().state())]++;
    std::vector<std::string> parts;
    for (const auto& [state, n] : states) parts.push_back(absl::StrCat(n, " ", state));
    out << "(no metrics yet: " << response->series_size() << " job(s), "
        << absl::StrJoin(parts, ", ") << ")\n";
    return 0;
  }
  const bool aggregated = !aggregate.empty();
  if (format == "csv") {
    out << (aggregated ? report::AggregatesToCsv : report::QueryToCsv)(*response,
                                                                       request.group_by());
  } else if (format == "json") {
    out << (aggregated ? report::AggregatesToJson : report::QueryToJson)(*response,
                                                                         request.group_by());
  } else {
    out << (aggregated ? report::AggregatesToTable(*response, 6, request.group_by())
                       : report::QueryToTable(*response, 6, request.group_by()));
  }
  return 0;
}

// "svg" or "png" by the extension of `path` (any case); InvalidArgument naming `flag` and the
// file else.
absl::StatusOr<std::string> FigureFormatOf(const std::string& flag, const std::string& path) {
  const size_t dot = path.rfind('.');
  const std::string extension = absl::AsciiStrToLower(
      dot == std::string::npos || path.find('/', dot) != std::string::npos ? ""
                                                                           : path.substr(dot + 1));
  if (extension == "svg" || extension == "png") return extension;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, ": '", path, "' ends in neither .svg nor .png (",
                   extension.empty() ? "no extension" : absl::StrCat(".", extension),
                   "); name the file FILE.svg or FILE.png"));
}

// What `plot` writes: --format when given, else the extension of --out (SVG to stdout without
// either). A --format that contradicts the extension of --out is refused rather than guessed.
absl::StatusOr<std::string> PlotFormat(const Args& args) {
  const std::string format = Flag(args, "--format");
  if (!format.empty() && format != "svg" && format != "png") {
    return absl::InvalidArgumentError(absl::StrCat("--format: '", format, "' is not svg or png"));
  }
  const std::string path = Flag(args, "--out");
  if (path.empty()) return format.empty() ? "svg" : format;
  auto extension = FigureFormatOf("--out", path);
  if (!extension.ok()) {
    if (!format.empty()) return format;
    return absl::InvalidArgumentError(
        absl::StrCat(extension.status().message(), ", or give --format svg|png"));
  }
  if (!format.empty() && format != *extension) {
    return absl::InvalidArgumentError(
        absl::StrCat("--format ", format, " contradicts --out '", path, "'"));
  }
  return extension;
}

// Writes `text` to the file named by --out; InvalidArgument naming it when that fails.
absl::Status WriteOutFile(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out: cannot write '", path, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

int CmdPlot(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.empty()) {
    err << "usage: optbench plot SWEEP_OR_JOB... [--layout group|job] [--groups G] [--metric M] "
           "[--split S] [--steps A:B] [--aggregate seed] [--log-y] [--log-x] "
           "[--reference log-c|Y] [--title T] [--out FILE.svg|FILE.png] [--format svg|png] "
           "[--db PATH | --coordinator ADDR]\n";
    return 2;
  }
  auto usage_error = [&err](absl::string_view message) {
    err << "optbench plot: " << message << "\n";
    return 2;
  };
  v1::QueryMetricsRequest request;
  if (absl::Status s = ParseSeriesFlags(args, &request); !s.ok()) return usage_error(s.message());
  int groups = 10;
  if (const std::string g = Flag(args, "--groups"); !g.empty()) {
    if (!absl::SimpleAtoi(g, &groups) || groups < 1 || groups > 1000) {
      return usage_error(absl::StrCat("--groups: '", g, "' is not a number in 1..1000"));
    }
  }
  request.set_group_by(v1::GROUP_BY_FREQUENCY);
  request.set_groups(groups);
  if (absl::Status s = ParseAggregate(args, &request); !s.ok()) return usage_error(s.message());
  const std::string& aggregate = request.aggregate();
  report::PlotOptions options;
  const std::string layout = Flag(args, "--layout", "group");
  if (layout != "group" && layout != "job") {
    return usage_error(absl::StrCat("--layout: '", layout, "' is not group or job"));
  }
  options.layout = layout == "job" ? report::PlotLayout::kJob : report::PlotLayout::kGroup;
  options.log_y = BoolFlag(args, "--log-y");
  options.log_x = BoolFlag(args, "--log-x");
  for (const auto& [flag, field] :
       {std::pair{"--width", &options.width}, std::pair{"--height", &options.height},
        std::pair{"--columns", &options.columns}}) {
    if (const std::string v = Flag(args, flag); !v.empty() && !absl::SimpleAtoi(v, field)) {
      return usage_error(absl::StrCat(flag, ": '", v, "' is not a whole number"));
    }
  }
  const std::string reference = Flag(args, "--reference");
  double reference_y = 0;
  if (!reference.empty() && reference != "log-c") {
    if (!absl::SimpleAtod(reference, &reference_y) || !std::isfinite(reference_y)) {
      return usage_error(absl::StrCat("--reference: '", reference, "' is not a number or log-c"));
    }
    options.reference_y = reference_y;
  }
  auto format = PlotFormat(args);
  if (!format.ok()) return usage_error(format.status().message());
  const std::string path = Flag(args, "--out");
  if (*format == "png" && path.empty() && IsStdoutTty(out)) {
    return usage_error("PNG is not written to a terminal: give --out FILE.png or redirect");
  }

  std::vector<std::string> names;
  auto response = FetchMetricsOfAll(args, args.positional, request, &names);
  if (!response.ok()) return Fail(err, "plot", response.status());
  options.title = Flag(args, "--title", absl::StrJoin(names, " + "));
  if (reference == "log-c") {
    // Frequency groups partition all classes, so their sizes add up to c.
    int64_t classes = 0;
    if (response->series_size() > 0) {
      for (const v1::ClassGroup& g : response->series(0).groups()) classes += g.num_classes();
    }
    if (classes < 1) {
      return Fail(err, "plot",
                  absl::FailedPreconditionError("--reference log-c: the jobs report no classes"));
    }
    options.reference_y = std::log(static_cast<double>(classes));
    options.reference_label = absl::StrCat("log ", classes);
  }
  auto figure = aggregate.empty() ? report::QueryToSvg(*response, options)
                                  : report::AggregatesToSvg(*response, options);
  if (!figure.ok()) {
    if (figure.status().code() == absl::StatusCode::kInvalidArgument) {
      return usage_error(figure.status().message());
    }
    return Fail(err, "plot", figure.status());
  }
  if (*format == "png") {
    figure = SvgToPng(*figure);
    if (!figure.ok()) return Fail(err, "plot", figure.status());
  }
  if (path.empty()) {
    out << *figure;
    return 0;
  }
  if (absl::Status s = WriteOutFile(path, *figure); !s.ok()) return Fail(err, "plot", s);
  err << "wrote " << path << " (" << *format
      << "): " << (aggregate.empty() ? response->series_size() : response->aggregates_size())
      << (aggregate.empty() ? " job(s)" : " setting(s)") << "\n";
  return 0;
}

// The names of the sweeps of `response`'s jobs, by id; a sweep that cannot be read is left out
// (its id still names it).
std::map<std::string, std::string> SweepNames(const Args& args,
                                              const v1::QueryMetricsResponse& response) {
  std::map<std::string, std::string> names;
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return names;
  for (const v1::Series& s : response.series()) {
    const std::string& id = s.job().sweep_id();
    if (id.empty() || names.count(id) != 0) continue;
    v1::GetSweepRequest request;
    request.set_sweep_id(id);
    v1::Sweep sweep;
    if ((*backend)->stub()->GetSweep(Context().get(), request, &sweep).ok() &&
        !sweep.name().empty()) {
      names[id] = sweep.name();
    }
  }
  return names;
}

// "4 queued, 1 running" when none of the jobs of `ids` (sweeps or jobs) finished (succeeded or
// diverged); empty when one did or they cannot be listed.
std::string FinishedOrNot(const Args& args, const std::vector<std::string>& ids) {
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return "";
  std::map<std::string, int> states;
  for (const std::string& id : ids) {
    auto target = ResolveTarget((*backend)->stub(), id);
    if (!target.ok()) return "";
    std::vector<v1::Job> jobs;
    if (!target->sweep_id.empty()) {
      auto all = ListAllJobs((*backend)->stub(), target->sweep_id, v1::JOB_STATE_UNSPECIFIED);
      if (!all.ok()) return "";
      jobs = *std::move(all);
    } else {
      v1::GetJobRequest request;
      request.set_job_id(target->job_id);
      if (!(*backend)->stub()->GetJob(Context().get(), request, &jobs.emplace_back()).ok()) {
        return "";
      }
    }
    for (const v1::Job& job : jobs) {
      if (job.state() == v1::JOB_STATE_SUCCEEDED || job.state() == v1::JOB_STATE_DIVERGED) {
        return "";
      }
      states[report::StateName(job.state())]++;
    }
  }
  std::vector<std::string> parts;
  for (const auto& [state, n] : states) parts.push_back(absl::StrCat(n, " ", state));
  return absl::StrJoin(parts, ", ");
}

// `optbench profile`: time to target and performance profiles (report/profile.h).
int CmdProfile(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.empty()) {
    err << "usage: optbench profile SWEEP_OR_JOB... --target T [--metric M] [--split S] "
           "[--goal min|max] [--group N|rarest] [--groups G] [--time steps|seconds] "
           "[--format table|csv|json] [--out FILE.svg|FILE.png] [--bars FILE] [--tau-max X] "
           "[--db PATH | --coordinator ADDR]\n";
    return 2;
  }
  auto usage_error = [&err](absl::string_view message) {
    err << "optbench profile: " << message << "\n";
    return 2;
  };
  report::ProfileQuestion question;
  report::ProfileOptions& options = question.options;
  const std::string target = Flag(args, "--target");
  if (target.empty()) return usage_error("--target is required: the value to reach");
  question.groups = 10;
  if (const std::string g = Flag(args, "--groups"); !g.empty()) {
    if (!absl::SimpleAtoi(g, &question.groups) || question.groups < 1 || question.groups > 1000) {
      return usage_error(absl::StrCat("--groups: '", g, "' is not a number in 1..1000"));
    }
  }
  std::optional<report::Goal> goal;
  if (absl::Status s = report::ParseProfileSettings(
          {target, Flag(args, "--goal"), Flag(args, "--time"), Flag(args, "--group")}, "--",
          &question, &goal);
      !s.ok()) {
    return usage_error(s.message());
  }
  const std::string format = Flag(args, "--format", "table");
  if (format != "table" && format != "csv" && format != "json") {
    return usage_error(absl::StrCat("--format: '", format, "' is not table, csv or json"));
  }
  report::ProfilePlotOptions plot;
  const std::string path = Flag(args, "--out");
  const std::string bars_path = Flag(args, "--bars");
  std::string figure_format, bars_format;
  for (const auto& [flag, file, format] :
       {std::tuple{"--out", &path, &figure_format}, {"--bars", &bars_path, &bars_format}}) {
    if (file->empty()) continue;
    auto f = FigureFormatOf(flag, *file);
    if (!f.ok()) return usage_error(f.status().message());
    *format = *f;
  }
  if (const std::string tau = Flag(args, "--tau-max"); !tau.empty()) {
    if (!absl::SimpleAtod(tau, &plot.tau_max) || !std::isfinite(plot.tau_max) ||
        plot.tau_max <= 1) {
      return usage_error(absl::StrCat("--tau-max: '", tau, "' is not a number > 1"));
    }
  }
  v1::QueryMetricsRequest request;
  if (absl::Status s = ParseSeriesFlags(args, &request); !s.ok()) return usage_error(s.message());
  request.set_group_by(question.group > 0 ? v1::GROUP_BY_FREQUENCY : v1::GROUP_BY_NONE);
  request.set_groups(question.groups);

  auto metric = FetchMetricsOfAll(args, args.positional, request);
  if (!metric.ok()) {
    // Jobs that never ran declare no metrics, so the query alone would blame the metric.
    if (auto states = FinishedOrNot(args, args.positional);
        metric.status().code() == absl::StatusCode::kInvalidArgument && !states.empty()) {
      return Fail(err, "profile",
                  absl::FailedPreconditionError(absl::StrCat(
                      "no finished job to profile (succeeded or diverged); the jobs: ", states)));
    }
    return Fail(err, "profile", metric.status());
  }
  auto seconds = FetchMetricsOfAll(args, args.positional, report::WallSecondsQuery(request));
  if (!seconds.ok()) {
    // Only train jobs report wall_seconds; times in steps do without them.
    if (options.time == report::TimeMeasure::kSeconds) {
      return Fail(err, "profile",
                  absl::FailedPreconditionError(absl::StrCat(
                      "--time seconds: ", seconds.status().message(), "; use --time steps")));
    }
    seconds = v1::QueryMetricsResponse();
  }
  question.metric = metric->series_size() > 0 ? metric->series(0).metric() : request.metric();
  question.split = request.split() == v1::SPLIT_TEST ? "test" : "train";
  options.goal = goal.value_or(report::DefaultGoal(*metric));
  question.workload_names = SweepNames(args, *metric);
  auto input = report::ProfileRunsFromQuery(*metric, *seconds, question.group);
  if (!input.ok()) return Fail(err, "profile", input.status());
  auto result = report::ComputeProfile(input->runs, options);
  if (!result.ok()) return Fail(err, "profile", result.status());
  if (!input->left_out.empty()) {
    err << "optbench profile: left out " << report::LeftOutText(input->left_out)
        << " job(s): only succeeded and diverged jobs count\n";
  }

  if (format == "csv") {
    out << report::ProfileToCsv(*result);
  } else if (format == "json") {
    out << report::ProfileToJson(*result, question);
  } else {
    out << report::ProfileToTable(*result, question);
  }
  if (!path.empty()) {
    plot.title = Flag(args, "--title",
                      absl::StrCat("performance profile: ", report::QuestionText(question)));
    auto figure = report::ProfileToSvg(*result, plot);
    if (figure.ok() && figure_format == "png") figure = SvgToPng(*figure);
    if (!figure.ok()) return Fail(err, "profile", figure.status());
    if (absl::Status s = WriteOutFile(path, *figure); !s.ok()) return Fail(err, "profile", s);
    err << "wrote " << path << " (" << figure_format << "): " << result->curves.size()
        << " optimizer(s)\n";
  }
  if (!bars_path.empty()) {
    report::ProfilePlotOptions bars;
    bars.title =
        Flag(args, "--title", absl::StrCat("time to target: ", report::QuestionText(question)));
    auto figure = report::TimeToTargetToSvg(*result, question, bars);
    if (figure.ok() && bars_format == "png") figure = SvgToPng(*figure);
    if (!figure.ok()) return Fail(err, "profile", figure.status());
    if (absl::Status s = WriteOutFile(bars_path, *figure); !s.ok()) return Fail(err, "profile", s);
    err << "wrote " << bars_path << " (" << bars_format << "): time to target of "
        << result->entries.size() << " optimizer(s) x workload(s)\n";
  }
  return 0;
}

// The bytes of the model `job_id` kept, from the database file named by --db or else from the
// coordinator, put back together piece by piece with their size and checksum checked.
absl::StatusOr<std::string> FetchKeptModel(const Args& args, const std::string& job_id) {
  worker::ModelAssembler assembler;
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return backend.status();
  v1::DownloadKeptModelRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientContext> context = Context(absl::Minutes(30));
  std::unique_ptr<grpc::ClientReaderInterface<v1::KeptModelChunk>> reader =
      (*backend)->stub()->DownloadKeptModel(context.get(), request);
  v1::KeptModelChunk piece;
  while (reader->Read(&piece)) {
    if (absl::Status s = assembler.Add(piece); !s.ok()) {
      context->TryCancel();
      (void)reader->Finish();  // Cancelled by us: its status says nothing more than `s`.
      return s;
    }
  }
  if (grpc::Status s = reader->Finish(); !s.ok()) return FromGrpcStatus(s);
  return std::move(assembler).Finish();
}

int CmdExport(const Args& args, std::ostream& out, std::ostream& err) {
  const std::string path = Flag(args, "--out");
  if (args.positional.size() != 1 || path.empty()) {
    err << "usage: optbench export JOB --out FILE [--db PATH | --coordinator ADDR]\n";
    return 2;
  }
  absl::StatusOr<std::string> model = FetchKeptModel(args, args.positional[0]);
  if (!model.ok()) return Fail(err, "export", model.status());
  // Written beside the target and renamed over it: a reader never sees half a model.
  const std::string partial = absl::StrCat(path, ".partial");
  std::ofstream file(partial, std::ios::binary | std::ios::trunc);
  file.write(model->data(), static_cast<std::streamsize>(model->size()));
  file.close();
  if (!file || std::rename(partial.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(partial.c_str());
    return Fail(
        err, "export",
        absl::InvalidArgumentError(absl::StrCat("--out: cannot write '", path, "': ", reason)));
  }
  out << "wrote " << path << ": " << model->size() << " bytes, the model job " << args.positional[0]
      << " kept\n";
  return 0;
}

// Warnings about grid axes that cannot change what the jobs compute: jobs that differ only in
// their seed when the seed draws nothing (engine::WhySeedCannotMatter). One line per reason.
std::vector<std::string> SweepWarnings(const std::vector<v1::Job>& jobs) {
  std::map<std::string, std::vector<const v1::Job*>> same_but_seed;
  std::map<std::string, std::string> why;
  for (const v1::Job& job : jobs) {
    auto spec = proto::FromProto(job.spec());
    if (!spec.ok()) continue;
    absl::StatusOr<std::string> reason = engine::WhySeedCannotMatter(*spec);
    if (!reason.ok() || reason->empty()) continue;
    v1::JobSpec without_seed = job.spec();
    without_seed.set_seed(0);
    // Deterministic: maps (settings, parameters) serialize in key order.
    std::string key;
    {
      google::protobuf::io::StringOutputStream stream(&key);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      without_seed.SerializeToCodedStream(&coded);
    }
    same_but_seed[key].push_back(&job);
    why[key] = *reason;
  }
  std::map<std::string, int64_t> repeats;  // Reason -> jobs that repeat another's result.
  std::set<std::string> seeds;
  for (const auto& [key, group] : same_but_seed) {
    if (group.size() < 2) continue;
    repeats[why[key]] += static_cast<int64_t>(group.size()) - 1;
    for (const v1::Job* job : group) seeds.insert(absl::StrCat(job->spec().seed()));
  }
  std::vector<std::string> warnings;
  for (const auto& [reason, n] : repeats) {
    warnings.push_back(absl::StrCat("warning: grid axis seed (", absl::StrJoin(seeds, ", "),
                                    ") cannot change the result: ", reason, "; ", n,
                                    " job(s) will repeat another's result exactly"));
  }
  return warnings;
}

int CmdSubmit(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.size() != 1) {
    err << "usage: optbench submit SWEEP_FILE [--dry-run] [--name NAME] [--coordinator ADDR]\n";
    return 2;
  }
  const std::string& path = args.positional[0];
  auto text = ReadFile(path);
  if (!text.ok()) return Fail(err, "submit", text.status());
  v1::SubmitSweepRequest request;
  request.set_sweep_text(*text);
  request.set_source_name(path);
  request.set_name(Flag(args, "--name"));
  request.set_dry_run(BoolFlag(args, "--dry-run"));
  for (const std::string& tag : ListFlag(args, "--tag")) request.add_tags(tag);
  if (args.flags.count("--note") != 0) request.set_note(Flag(args, "--note"));
  v1::SubmitSweepResponse response;
  absl::Status status;
  if (request.dry_run()) {
    // Expanded locally with the same code the coordinator runs: no coordinator needed.
    auto expanded = server::ExpandSubmission(request, engine::Catalog(), server::SubmitLimits());
    if (!expanded.ok()) return Fail(err, "submit", expanded.status());
    std::vector<v1::Job> jobs = expanded->jobs;
    // Jobs that work on another job's kept model become one job per source job, which only the
    // coordinator's database can say: the dry run goes there.
    const bool has_sources = std::any_of(jobs.begin(), jobs.end(), [](const v1::Job& j) {
      auto task = engine::Catalog().FindTask(j.spec().task());
      return task.ok() && !(*task)->source_slots.empty();
    });
    if (has_sources) {
      RemoteBackend backend(CoordinatorAddress(args));
      grpc::Status s = backend.stub()->SubmitSweep(Context().get(), request, &response);
      if (!s.ok()) return FailGrpc(err, "submit", s);
      jobs.assign(response.jobs().begin(), response.jobs().end());
    }
    for (const std::string& warning : SweepWarnings(jobs)) err << warning << "\n";
    out << jobs.size() << " jobs in sweep '" << expanded->name << "' (dry run, nothing created)\n";
    if (!expanded->annotations.tags.empty()) {
      out << "tags: " << absl::StrJoin(expanded->annotations.tags, ", ") << "\n";
    }
    if (!expanded->annotations.note.empty()) out << "note: " << expanded->annotations.note << "\n";
    out << report::JobsToTable(jobs);
    // Estimated peak memory of each job, so a sweep can be sized before it is submitted.
    int64_t largest = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
      auto spec = proto::FromProto(jobs[i].spec());
      absl::StatusOr<int64_t> bytes =
          spec.ok() ? engine::EstimatePeakMemoryBytes(*spec) : spec.status();
      if (!bytes.ok()) {
        err << "job " << i << ": cannot estimate memory: " << bytes.status().message() << "\n";
        continue;
      }
      largest = std::max(largest, *bytes);
    }
    out << "estimated peak memory per job: up to " << (largest >> 20) << " MiB\n";
    return 0;
  }
  // The same warnings as a dry run's (the sweep is submitted all the same); the coordinator
  // alone judges what cannot be expanded here (sources).
  if (auto expanded = server::ExpandSubmission(request, engine::Catalog(), server::SubmitLimits());
      expanded.ok()) {
    for (const std::string& warning : SweepWarnings(expanded->jobs)) err << warning << "\n";
  }
  RemoteBackend backend(CoordinatorAddress(args));
  grpc::Status s = backend.stub()->SubmitSweep(Context().get(), request, &response);
  if (!s.ok()) return FailGrpc(err, "submit", s);
  out << response.sweep().id() << "\n";
  err << "submitted sweep " << response.sweep().id() << " '" << response.sweep().name()
      << "': " << response.jobs_size() << " jobs\n";
  return 0;
}

// Exit 0 only when the coordinator answers SERVING: usable as a Kubernetes exec probe or a
// compose healthcheck. Needs no token.
int CmdHealth(const Args& args, std::ostream& out, std::ostream& err) {
  double timeout = 5;
  if (const std::string t = Flag(args, "--timeout_seconds"); !t.empty()) {
    if (!absl::SimpleAtod(t, &timeout) || !(timeout > 0 && timeout <= 3600)) {
      err << "optbench health: --timeout_seconds: '" << t << "' is not a number in (0, 3600]\n";
      return 2;
    }
  }
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(CoordinatorAddress(args), Calls().credentials));
  std::unique_ptr<grpc::ClientContext> context = Context(absl::Seconds(timeout));
  // A coordinator still starting up counts: wait for the connection within the timeout.
  context->set_wait_for_ready(true);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(Flag(args, "--service"));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status s = stub->Check(context.get(), request, &response);
  if (!s.ok()) return FailGrpc(err, "health", s);
  out << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

int CmdStatus(const Args& args, std::ostream& out, std::ostream& err) {
  if (!args.positional.empty()) {
    err << "usage: optbench status [--coordinator ADDR | --db PATH]\n";
    return 2;
  }
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return Fail(err, "status", backend.status());
  v1::GetStatusResponse response;
  grpc::Status s =
      (*backend)->stub()->GetStatus(Context().get(), v1::GetStatusRequest(), &response);
  if (!s.ok()) return FailGrpc(err, "status", s);
  out << (*backend)->where() << " (optbench " << response.version() << ")\njobs:";
  std::map<std::string, int64_t> counts;
  for (const auto& [state, n] : response.state_counts()) {
    if (n > 0) counts[state] = n;
  }
  if (counts.empty()) out << " none";
  for (const auto& [state, n] : counts) out << " " << n << " " << state;
  if ((*backend)->is_file()) {
    // A coordinator keeps when it last heard from each worker in memory, not in the file.
    out << "\nworkers: not known from the file (ask the coordinator: --coordinator)\n";
  } else {
    const int64_t lost = std::count_if(response.workers().begin(), response.workers().end(),
                                       [](const v1::WorkerInfo& w) { return w.lost(); });
    out << "\nworkers: " << response.workers_size() - lost << " alive";
    if (lost > 0) out << ", " << lost << " lost (not heard from for more than a lease)";
    out << "\n";
    for (const v1::WorkerInfo& w : response.workers()) {
      out << "  " << w.id() << "  " << w.slots() << " slot(s), seen " << w.seconds_since_seen()
          << " s ago" << (w.lost() ? "  LOST" : "") << "\n";
    }
  }
  if (response.recent_sweeps().empty()) {
    out << "sweeps: none\n";
    return 0;
  }
  out << "recent sweeps:\n";
  const std::vector<v1::Sweep> recent(response.recent_sweeps().begin(),
                                      response.recent_sweeps().end());
  for (absl::string_view line :
       absl::StrSplit(report::SweepsToTable(recent), '\n', absl::SkipEmpty())) {
    out << "  " << line << "\n";
  }
  const int64_t more = response.total_sweeps() - response.recent_sweeps_size();
  if (more > 0) out << more << " more: optbench sweeps\n";
  return 0;
}

// "--state" of `optbench list` and `optbench sweeps`: a job state by its name.
absl::StatusOr<v1::JobState> ParseJobState(const std::string& text) {
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  std::string upper = "JOB_STATE_" + text;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  if (!v1::JobState_Parse(upper, &state) || state == v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("--state: '", text,
                     "' is not one of queued, running, succeeded, failed, diverged, "
                     "cancelled"));
  }
  return state;
}

int CmdSweeps(const Args& args, std::ostream& out, std::ostream& err) {
  if (!args.positional.empty()) {
    err << "usage: optbench sweeps [--tag T]... [--name SUBSTRING] [--state STATE] [--limit N] "
           "[--page-token TOKEN] [--coordinator ADDR | --db PATH]\n";
    return 2;
  }
  auto usage_error = [&err](absl::string_view message) {
    err << "optbench sweeps: " << message << "\n";
    return 2;
  };
  v1::ListSweepsRequest request;
  int limit = 20;
  if (const std::string l = Flag(args, "--limit"); !l.empty()) {
    if (!absl::SimpleAtoi(l, &limit) || limit < 1 || limit > 1000) {
      return usage_error(absl::StrCat("--limit: '", l, "' is not a number in 1..1000"));
    }
  }
  request.set_limit(limit);
  for (const std::string& tag : ListFlag(args, "--tag")) request.add_tags(tag);
  request.set_name_contains(Flag(args, "--name"));
  if (const std::string state = Flag(args, "--state"); state == "active") {
    request.set_progress(v1::SWEEP_PROGRESS_ACTIVE);
  } else if (state == "done") {
    request.set_progress(v1::SWEEP_PROGRESS_DONE);
  } else if (!state.empty()) {
    auto job_state = ParseJobState(state);
    if (!job_state.ok()) {
      return usage_error(absl::StrCat(job_state.status().message(), ", active or done"));
    }
    request.set_has_state(*job_state);
  }
  request.set_page_token(Flag(args, "--page-token"));
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return Fail(err, "sweeps", backend.status());
  v1::ListSweepsResponse response;
  grpc::Status s = (*backend)->stub()->ListSweeps(Context().get(), request, &response);
  if (!s.ok()) return FailGrpc(err, "sweeps", s);
  if (response.sweeps().empty()) {
    out << (response.total_size() == 0 ? "no sweeps match\n" : "no more sweeps\n");
    return 0;
  }
  out << report::SweepsToTable({response.sweeps().begin(), response.sweeps().end()});
  if (!response.next_page_token().empty()) {
    // The same command with the next page's token.
    std::vector<std::string> again = {"optbench sweeps"};
    for (const auto& [flag, value] : args.flags) {
      if (flag == "--page-token" || RepeatedFlags().count(flag) != 0) continue;
      again.push_back(absl::StrCat(flag, " '", value, "'"));
    }
    for (const std::string& tag : ListFlag(args, "--tag")) {
      again.push_back(absl::StrCat("--tag '", tag, "'"));
    }
    again.push_back(absl::StrCat("--page-token ", response.next_page_token()));
    out << response.total_size() << " sweeps match; next page: " << absl::StrJoin(again, " ")
        << "\n";
  }
  return 0;
}

int CmdTag(const Args& args, std::ostream& out, std::ostream& err) {
  const bool has_note = args.flags.count("--note") != 0;
  if (args.positional.size() != 1 ||
      (ListFlag(args, "--add").empty() && ListFlag(args, "--remove").empty() && !has_note)) {
    err << "usage: optbench tag SWEEP [--add TAG]... [--remove TAG]... [--note TEXT] "
           "[--coordinator ADDR]  (at least one of them; --note '' clears the note)\n";
    return 2;
  }
  v1::UpdateSweepRequest request;
  request.set_sweep_id(args.positional[0]);
  for (const std::string& tag : ListFlag(args, "--add")) request.add_add_tags(tag);
  for (const std::string& tag : ListFlag(args, "--remove")) request.add_remove_tags(tag);
  if (has_note) request.set_note(Flag(args, "--note"));
  RemoteBackend backend(CoordinatorAddress(args));
  v1::Sweep sweep;
  grpc::Status s = backend.stub()->UpdateSweep(Context().get(), request, &sweep);
  if (!s.ok()) return FailGrpc(err, "tag", s);
  out << report::SweepHeader(sweep);
  return 0;
}

int CmdDelete(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.size() != 1) {
    err << "usage: optbench delete SWEEP --yes [--force] [--coordinator ADDR]\n";
    return 2;
  }
  const std::string& id = args.positional[0];
  RemoteBackend backend(CoordinatorAddress(args));
  v1::GetSweepRequest get;
  get.set_sweep_id(id);
  v1::Sweep sweep;
  if (grpc::Status s = backend.stub()->GetSweep(Context().get(), get, &sweep); !s.ok()) {
    return FailGrpc(err, "delete", s);
  }
  if (!BoolFlag(args, "--yes")) {
    err << "optbench delete: not deleting sweep " << id << " '" << sweep.name()
        << "' without --yes: "
        << "it removes its " << sweep.num_jobs()
        << " jobs with their metrics, checkpoints and kept models, for good\n";
    return 2;
  }
  if (BoolFlag(args, "--force")) {
    // Running jobs stop at their worker's next step once cancelled (or when a dead worker's lease
    // runs out); the coordinator deletes nothing while one runs.
    v1::CancelRequest cancel;
    cancel.set_sweep_id(id);
    v1::CancelResponse cancelled;
    if (grpc::Status s = backend.stub()->Cancel(Context().get(), cancel, &cancelled); !s.ok()) {
      return FailGrpc(err, "delete", s);
    }
    err << "cancelled sweep " << id << "; waiting for its running jobs to stop\n";
    auto last = WatchUntilDone(backend.stub(), Target{id, "", ""}, nullptr, absl::Minutes(10));
    if (!last.ok()) return Fail(err, "delete", last.status());
  }
  v1::DeleteSweepRequest request;
  request.set_sweep_id(id);
  v1::DeleteSweepResponse deleted;
  grpc::Status s = backend.stub()->DeleteSweep(Context().get(), request, &deleted);
  if (!s.ok()) return FailGrpc(err, "delete", s);
  out << "deleted sweep " << id << " '" << sweep.name() << "': " << deleted.deleted_jobs()
      << " jobs, " << deleted.deleted_metric_rows() << " metric rows, "
      << deleted.deleted_checkpoints() << " checkpoints, " << deleted.deleted_kept_models()
      << " kept models\n";
  return 0;
}

// The kinds `optbench list` names in the plural ("optimizers"), and "metrics".
bool IsDeclarationList(const std::string& what) {
  for (const char* kind : {"tasks", "optimizers", "models", "datasets", "objectives", "metrics"}) {
    if (what == kind) return true;
  }
  return false;
}

int CmdListDeclarations(const std::string& what, std::ostream& out, std::ostream& err) {
  // Served from the catalog compiled into this binary: the same declarations the coordinator
  // validates with, so no coordinator is needed.
  const bool metrics = what == "metrics";
  auto declarations = server::ListComponentDeclarations(
      engine::Catalog(), metrics ? "" : what.substr(0, what.size() - 1));
  if (!declarations.ok()) return Fail(err, "list", declarations.status());
  out << (metrics ? report::MetricsToText(*declarations) : report::ComponentsToText(*declarations));
  return 0;
}

int CmdList(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.size() == 1 && IsDeclarationList(args.positional[0])) {
    return CmdListDeclarations(args.positional[0], out, err);
  }
  if (args.positional.size() > 1) {
    err << "usage: optbench list [SWEEP] [--state STATE] | optbench list "
           "tasks|optimizers|models|datasets|objectives|metrics\n";
    return 2;
  }
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  if (const std::string s = Flag(args, "--state"); !s.empty()) {
    auto parsed = ParseJobState(s);
    if (!parsed.ok()) {
      err << "optbench list: " << parsed.status().message() << "\n";
      return 2;
    }
    state = *parsed;
  }
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return Fail(err, "list", backend.status());
  const std::string sweep = args.positional.empty() ? "" : args.positional[0];
  if (!sweep.empty()) {
    v1::GetSweepRequest request;
    request.set_sweep_id(sweep);
    v1::Sweep found;
    grpc::Status s = (*backend)->stub()->GetSweep(Context().get(), request, &found);
    if (!s.ok()) return FailGrpc(err, "list", s);
    out << report::SweepHeader(found);
  }
  auto jobs = ListAllJobs((*backend)->stub(), sweep, state);
  if (!jobs.ok()) return Fail(err, "list", jobs.status());
  out << report::JobsToTable(*jobs);
  return 0;
}

int CmdWatch(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.size() != 1) {
    err << "usage: optbench watch SWEEP_OR_JOB [--once] [--coordinator ADDR | --db PATH]\n";
    return 2;
  }
  auto backend = ReadBackend::Open(args);
  if (!backend.ok()) return Fail(err, "watch", backend.status());
  auto target = ResolveTarget((*backend)->stub(), args.positional[0]);
  if (!target.ok()) return Fail(err, "watch", target.status());
  v1::Coordinator::StubInterface* stub = (*backend)->stub();
  Progress progress(out, IsStdoutTty(out) && !BoolFlag(args, "--no-progress"),
                    [stub, t = *target] { return LatestLosses(stub, t); });
  if (BoolFlag(args, "--once")) {
    // The jobs as they are now, every one of them, and no waiting.
    std::vector<v1::Job> jobs;
    if (!target->sweep_id.empty()) {
      auto all = ListAllJobs((*backend)->stub(), target->sweep_id, v1::JOB_STATE_UNSPECIFIED);
      if (!all.ok()) return Fail(err, "watch", all.status());
      jobs = *std::move(all);
    } else {
      v1::GetJobRequest request;
      request.set_job_id(target->job_id);
      v1::Job job;
      grpc::Status s = (*backend)->stub()->GetJob(Context().get(), request, &job);
      if (!s.ok()) return FailGrpc(err, "watch", s);
      jobs.push_back(std::move(job));
    }
    out << report::ProgressSnapshot(jobs, absl::Now(), LatestLosses((*backend)->stub(), *target));
    return 0;
  }
  // On a database file the reader polls it (twice a second) for what a coordinator writes.
  auto last = WatchUntilDone((*backend)->stub(), *target, &progress);
  if (!last.ok()) return Fail(err, "watch", last.status());
  for (const v1::Job& j : last->jobs()) {
    if (j.state() == v1::JOB_STATE_FAILED) return 1;
  }
  return 0;
}

int CmdCancel(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.size() != 1) {
    err << "usage: optbench cancel SWEEP_OR_JOB [--coordinator ADDR]\n";
    return 2;
  }
  RemoteBackend backend(CoordinatorAddress(args));
  auto target = ResolveTarget(backend.stub(), args.positional[0]);
  if (!target.ok()) return Fail(err, "cancel", target.status());
  v1::CancelRequest request;
  if (!target->sweep_id.empty()) {
    request.set_sweep_id(target->sweep_id);
  } else {
    request.set_job_id(target->job_id);
  }
  v1::CancelResponse response;
  grpc::Status s = backend.stub()->Cancel(Context().get(), request, &response);
  if (!s.ok()) return FailGrpc(err, "cancel", s);
  out << "cancel requested for " << args.positional[0] << "\n";
  return 0;
}

int CmdRun(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.positional.size() != 1) {
    err << "usage: optbench run SWEEP_FILE [--db PATH] [--workers N] [--threads T] [--groups G]\n";
    return 2;
  }
  const std::string& path = args.positional[0];
  auto text = ReadFile(path);
  if (!text.ok()) return Fail(err, "run", text.status());
  int threads = 1;
  if (const std::string t = Flag(args, "--threads"); !t.empty()) {
    if (!absl::SimpleAtoi(t, &threads) || threads < 1 || threads > 1024) {
      err << "optbench run: --threads: '" << t << "' is not a number in 1..1024\n";
      return 2;
    }
    if (absl::Status s = engine::SetGemmThreads(threads); !s.ok()) {
      err << "optbench run: --threads: " << s.message() << "\n";
      return 2;
    }
    if (threads > 1 && !engine::GemmThreadsKeepResults()) {
      err << "optbench run: warning: --threads " << threads
          << " changes results in their last bits with this BLAS ("
          << engine::GemmBackendDescription() << "); --threads 1 reproduces one-thread runs\n";
    }
  }
  // More than one GEMM thread is for one big job at a time: OpenBLAS runs one multi-threaded
  // product at a time (gemm_backend.h).
  int workers =
      threads > 1 ? 1 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (const std::string w = Flag(args, "--workers"); !w.empty()) {
    if (!absl::SimpleAtoi(w, &workers) || workers < 1 || workers > 1024) {
      err << "optbench run: --workers: '" << w << "' is not a number in 1..1024\n";
      return 2;
    }
  }
  int groups = 10;
  if (const std::string g = Flag(args, "--groups"); !g.empty()) {
    if (!absl::SimpleAtoi(g, &groups) || groups < 1 || groups > 1000) {
      err << "optbench run: --groups: '" << g << "' is not a number in 1..1000\n";
      return 2;
    }
  }

  // The progress display is the interface here; service logs only for problems, unless asked.
  if (std::getenv("OPTBENCH_LOG_LEVEL") == nullptr) SetLogLevel(LogLevel::kWarning);

  // Validate before starting anything, so a typo costs nothing.
  v1::SubmitSweepRequest submit;
  submit.set_sweep_text(*text);
  submit.set_source_name(path);
  if (auto expanded = server::ExpandSubmission(submit, engine::Catalog(), server::SubmitLimits());
      !expanded.ok()) {
    return Fail(err, "run", expanded.status());
  }

  // The embedded coordinator listens on loopback only, on a free port.
  server::CoordinatorOptions copts;
  copts.catalog = &engine::Catalog();
  copts.listen = "127.0.0.1:0";
  copts.db_path = Flag(args, "--db", "optbench.db");
  auto coordinator = server::Coordinator::Start(copts);
  if (!coordinator.ok()) return Fail(err, "run", coordinator.status());
  worker::WorkerOptions wopts;
  wopts.coordinator = (*coordinator)->address();
  wopts.slots = workers;
  wopts.threads_per_slot = threads;
  wopts.name = "embedded";
  wopts.acquire_wait = absl::Seconds(2);
  worker::Worker worker(wopts);
  if (absl::Status s = worker.Start(); !s.ok()) return Fail(err, "run", s);

  RemoteBackend backend((*coordinator)->address());
  v1::SubmitSweepResponse submitted;
  grpc::Status s = backend.stub()->SubmitSweep(Context().get(), submit, &submitted);
  if (!s.ok()) return FailGrpc(err, "run", s);
  const std::string sweep_id = submitted.sweep().id();
  err << "sweep " << sweep_id << " '" << submitted.sweep().name() << "': " << submitted.jobs_size()
      << " jobs on " << workers << " worker slot(s), database " << copts.db_path << "\n";

  v1::Coordinator::StubInterface* stub = backend.stub();
  Progress progress(out, IsStdoutTty(out) && !BoolFlag(args, "--no-progress"), [stub, sweep_id] {
    return LatestLosses(stub, Target{sweep_id, "", ""});
  });
  auto last = WatchUntilDone(stub, Target{sweep_id, "", ""}, &progress);
  int code = 0;
  if (!last.ok()) {
    code = Fail(err, "run", last.status());
  } else {
    v1::QueryMetricsRequest q;
    q.set_sweep_id(sweep_id);  // The jobs' primary metric: their objective's loss.
    q.set_split(v1::SPLIT_TRAIN);
    q.set_group_by(v1::GROUP_BY_FREQUENCY);
    q.set_groups(groups);
    v1::QueryMetricsResponse response;
    s = backend.stub()->QueryMetrics(Context().get(), q, &response);
    if (!s.ok()) {
      code = FailGrpc(err, "run", s);
    } else {
      out << "\n" << report::QueryToTable(response, 4);
    }
    for (const v1::Job& j : last->jobs()) {
      if (j.state() == v1::JOB_STATE_FAILED) {
        err << "job " << j.id() << " failed: " << j.error() << "\n";
        code = 1;
      }
    }
    out << "\nsweep " << sweep_id << " stored in " << copts.db_path
        << "; more with: optbench query " << sweep_id << " --db " << copts.db_path
        << " [--group-by class] [--format csv]\n";
  }
  worker.Stop();
  worker.Wait();
  (*coordinator)->Shutdown();
  return code;
}

}  // namespace

int RunCli(const std::vector<std::string>& raw, std::ostream& out, std::ostream& err) {
  if (raw.empty() || raw[0] == "help" || raw[0] == "--help" || raw[0] == "-h") {
    (raw.empty() ? err : out) << kUsage;
    return raw.empty() ? 2 : 0;
  }
  if (raw[0] == "--version" || raw[0] == "version") {
    out << "optbench " << OptbenchVersion() << "\n";
    return 0;
  }
  const std::string command = raw[0];
  const std::vector<std::string> rest(raw.begin() + 1, raw.end());
  struct Command {
    std::set<std::string> flags;
    int (*run)(const Args&, std::ostream&, std::ostream&);
  };
  const std::map<std::string, Command> commands = {
      {"run", {{"--db", "--workers", "--threads", "--groups", "--no-progress"}, CmdRun}},
      {"submit", {{"--coordinator", "--dry-run", "--name", "--tag", "--note"}, CmdSubmit}},
      {"status", {{"--coordinator", "--db"}, CmdStatus}},
      {"health", {{"--coordinator", "--service", "--timeout_seconds"}, CmdHealth}},
      {"list", {{"--coordinator", "--db", "--state"}, CmdList}},
      {"sweeps",
       {{"--coordinator", "--db", "--tag", "--name", "--state", "--limit", "--page-token"},
        CmdSweeps}},
      {"watch", {{"--coordinator", "--db", "--no-progress", "--once"}, CmdWatch}},
      {"cancel", {{"--coordinator"}, CmdCancel}},
      {"tag", {{"--coordinator", "--add", "--remove", "--note"}, CmdTag}},
      {"delete", {{"--coordinator", "--yes", "--force"}, CmdDelete}},
      {"query",
       {{"--coordinator", "--db", "--metric", "--split", "--group-by", "--steps", "--format",
         "--aggregate"},
        CmdQuery}},
      {"export", {{"--coordinator", "--db", "--out"}, CmdExport}},
      {"profile",
       {{"--coordinator", "--db", "--metric", "--split", "--target", "--goal", "--group",
         "--groups", "--time", "--format", "--out", "--bars", "--tau-max", "--title"},
        CmdProfile}},
      {"plot",
       {{"--coordinator", "--db", "--metric", "--split", "--groups", "--steps", "--log-y",
         "--reference", "--title", "--columns", "--width", "--height", "--out", "--aggregate",
         "--layout", "--log-x", "--format"},
        CmdPlot}},
  };
  auto it = commands.find(command);
  if (it == commands.end()) {
    err << "optbench: unknown command '" << command
        << "'; known: run, submit, status, health, list, sweeps, watch, cancel, tag, delete, "
           "query, export, plot, profile, help, --version\n";
    return 2;
  }
  if (std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
      std::find(rest.begin(), rest.end(), "-h") != rest.end()) {
    out << CommandUsage(command);
    return 0;
  }
  std::set<std::string> flags = it->second.flags;
  if (flags.count("--coordinator") != 0) {
    flags.insert({"--token_file", "--tls_ca", "--tls_cert", "--tls_key"});
  }
  auto args = ParseArgs(rest, flags, command);
  if (!args.ok()) {
    err << "optbench " << command << ": " << args.status().message() << "\n";
    return 2;
  }
  auto token = LoadClientToken(Flag(*args, "--token_file"));
  auto credentials = MakeChannelCredentials(
      {Flag(*args, "--tls_ca"), Flag(*args, "--tls_cert"), Flag(*args, "--tls_key")});
  if (!token.ok() || !credentials.ok()) {
    err << "optbench " << command << ": "
        << (token.ok() ? credentials.status() : token.status()).message() << "\n";
    return 2;
  }
  Calls() = CallConfig{*token, *credentials};
  return it->second.run(*args, out, err);
}

}  // namespace optbench::client
