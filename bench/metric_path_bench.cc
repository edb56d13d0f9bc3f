// The metric path, measured end to end (issue 12): a real optbench-coordinator process on
// 127.0.0.1 with a SQLite file in a temp dir, driven over gRPC the way workers and clients drive
// it. Prints one table: ingest of per-class values (the worker's Reporter -> Report RPC ->
// coordinator -> SQLite), QueryMetrics latency (frequency-grouped and per class) on stored jobs,
// and job claims per second with many concurrent claimers.
//   metric_path_bench [--coordinator=PATH] [--evals=1000] [--big_classes=50000] [--claimers=32]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "optbench/v1/worker.grpc.pb.h"
#include "tests/integration/subprocess.h"
#include "worker/reporter.h"

namespace optbench::bench {
namespace {

using testing::Subprocess;

constexpr const char* kPerClassMetrics[] = {"loss_sum", "correct", "p_true_sum", "p_mass"};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "metric_path_bench: %s\n", what.c_str());
  std::exit(1);
}

// A coordinator process on a free loopback port with its database in a temp dir; killed and the
// dir removed on destruction.
class Coordinator {
 public:
  explicit Coordinator(const std::string& binary) {
    char tmpl[] = "/tmp/optbench_metric_path_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
    dir_ = tmpl;
    const std::string port_file = dir_ + "/port";
    if (!process_.Start({binary, "--listen=127.0.0.1:0", "--db=" + dir_ + "/optbench.db",
                         "--port_file=" + port_file, "--lease_seconds=600"},
                        dir_ + "/coordinator.log")) {
      Die("cannot start " + binary);
    }
    int port = 0;
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port)) absl::SleepFor(absl::Milliseconds(20));
    }
    if (port == 0) Die("coordinator did not start: " + process_.Log());
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(1 << 30);
    args.SetMaxSendMessageSize(1 << 30);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                         grpc::InsecureChannelCredentials(), args);
    client_ = v1::Coordinator::NewStub(channel_);
    worker_ = v1::WorkerService::NewStub(channel_);
  }
  ~Coordinator() {
    process_.Kill(SIGTERM);
    int status = 0;
    if (!process_.WaitFor(absl::Seconds(10), &status)) process_.Kill(SIGKILL);
    process_.Wait();
    std::filesystem::remove_all(dir_);
  }

  v1::Coordinator::Stub* client() { return client_.get(); }
  v1::WorkerService::Stub* worker() { return worker_.get(); }
  int64_t DbBytes() const {
    int64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (absl::StartsWith(e.path().filename().string(), "optbench.db")) total += e.file_size();
    }
    return total;
  }

  // Submits a sweep of `jobs` linear jobs (distinct step sizes); returns the job ids.
  std::vector<std::string> Submit(const std::string& name, int jobs) {
    std::string lrs;
    for (int i = 0; i < jobs; ++i) absl::StrAppend(&lrs, i ? ", " : "", 1e-3 * (1 + i));
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_sweep_text(
        absl::StrCat("name: ", name,
                     "\ndataset: {name: heavy_tail_uniform, m: 4}\nmodel: {name: linear}\n"
                     "trainer: {steps: 10000, eval_every: 10}\noptimizer: {name: gd, lr: [",
                     lrs, "]}\n"));
    v1::SubmitSweepResponse response;
    grpc::Status s = client_->SubmitSweep(&context, request, &response);
    if (!s.ok()) Die("submit: " + s.error_message());
    std::vector<std::string> ids;
    for (const v1::Job& j : response.jobs()) ids.push_back(j.id());
    return ids;
  }

  // Registers `worker_id` and claims one job; returns false when none was queued.
  bool Claim(const std::string& worker_id, v1::AcquireJobResponse* out) {
    grpc::ClientContext context;
    v1::AcquireJobRequest request;
    request.set_worker_id(worker_id);
    request.set_wait_ms(0);
    grpc::Status s = worker_->AcquireJob(&context, request, out);
    if (!s.ok()) Die("acquire: " + s.error_message());
    return out->has_job();
  }
  void Register(const std::string& worker_id) {
    grpc::ClientContext context;
    v1::RegisterWorkerRequest request;
    request.set_worker_id(worker_id);
    request.set_name(worker_id);
    request.set_slots(1);
    v1::RegisterWorkerResponse response;
    grpc::Status s = worker_->RegisterWorker(&context, request, &response);
    if (!s.ok()) Die("register: " + s.error_message());
  }

 private:
  std::string dir_;
  Subprocess process_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> client_;
  std::unique_ptr<v1::WorkerService::Stub> worker_;
};

struct IngestResult {
  int64_t values = 0;
  double seconds = 0;
};

// Claims a queued job and reports `evals` evaluations of `classes` classes through the worker's
// Reporter (window 8, as optbench-worker), each with `metrics` per-class metrics on both splits
// (`test` false: train only). Timed from the first batch to the last acknowledgement.
IngestResult Ingest(Coordinator* c, int64_t classes, int evals, int metrics, bool test) {
  v1::AcquireJobResponse claim;
  c->Register("ingest");
  if (!c->Claim("ingest", &claim)) Die("no job to claim for ingest");
  worker::Reporter::Options options;
  options.window = 8;
  worker::Reporter reporter(c->worker(), claim.job().id(), claim.lease_token(), options);
  reporter.Start();
  v1::ReportRequest info_request;
  v1::DatasetInfo* info = info_request.mutable_dataset_info();
  info->set_num_classes(classes);
  info->set_num_features(16);
  // Zipf-like counts: class k has about 10^6 / (k + 1) examples, at least 1.
  for (int64_t k = 0; k < classes; ++k) {
    info->add_train_class_counts(std::max<int64_t>(1, 1000000 / (k + 1)));
    info->add_test_class_counts(std::max<int64_t>(1, 100000 / (k + 1)));
  }
  if (absl::Status s = reporter.Send(std::move(info_request)); !s.ok()) Die(s.ToString());
  // Values as the engine produces them: float64 sums of float32 terms.
  std::vector<double> values(classes);
  for (int64_t k = 0; k < classes; ++k) values[k] = static_cast<float>(0.001 * k + 0.5);
  IngestResult result;
  const absl::Time start = absl::Now();
  for (int e = 0; e < evals; ++e) {
    v1::ReportRequest r;
    v1::MetricBatch* batch = r.mutable_metrics();
    batch->set_step(10 * (e + 1));
    for (int m = 0; m < metrics; ++m) {
      for (v1::Split split : {v1::SPLIT_TRAIN, v1::SPLIT_TEST}) {
        if (split == v1::SPLIT_TEST && !test) continue;
        v1::MetricValue* v = batch->add_values();
        v->set_metric(kPerClassMetrics[m]);
        v->set_split(split);
        v->mutable_values()->Add(values.begin(), values.end());
        result.values += classes;
      }
    }
    reporter.SetProgress(batch->step());
    if (absl::Status s = reporter.Send(std::move(r)); !s.ok()) Die(s.ToString());
  }
  if (absl::Status s = reporter.Finish(absl::Minutes(30)); !s.ok()) Die(s.ToString());
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return result;
}

// Median wall time (ms) of `rounds` QueryMetrics calls for loss on the train split, up to
// `max_step` (0: every step); a negative value when the coordinator refuses the answer as too
// large (`*error` says why).
double QueryMs(Coordinator* c, const std::string& job_id, v1::GroupBy group_by, int rounds,
               int64_t max_step, int64_t* points, std::string* error) {
  std::vector<double> ms;
  for (int i = 0; i < rounds; ++i) {
    grpc::ClientContext context;
    v1::QueryMetricsRequest request;
    request.set_job_id(job_id);
    request.set_metric("loss");
    request.set_group_by(group_by);
    if (max_step > 0) request.set_max_step(max_step);
    v1::QueryMetricsResponse response;
    const absl::Time start = absl::Now();
    grpc::Status s = c->client()->QueryMetrics(&context, request, &response);
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      *error = s.error_message();
      return -1;
    }
    if (!s.ok()) Die("query: " + s.error_message());
    *points = response.series(0).points_size();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// `claimers` threads, each its own registered worker, claim queued jobs until none is left.
double ClaimsPerSecond(Coordinator* c, int jobs, int claimers) {
  for (int i = 0; i < jobs; i += 500) c->Submit(absl::StrCat("claims", i), std::min(500, jobs - i));
  for (int t = 0; t < claimers; ++t) c->Register(absl::StrCat("claimer", t));
  std::atomic<int> claimed{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int t = 0; t < claimers; ++t) {
    threads.emplace_back([c, t, &claimed] {
      v1::AcquireJobResponse response;
      while (c->Claim(absl::StrCat("claimer", t), &response)) {
        claimed.fetch_add(1);
        response.Clear();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (claimed.load() != jobs) Die(absl::StrCat("claimed ", claimed.load(), " of ", jobs, " jobs"));
  return jobs / seconds;
}

int64_t Flag(int argc, char** argv, const std::string& name, int64_t fallback) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::StartsWith(a, "--" + name + "=")) {
      int64_t v = 0;
      if (!absl::SimpleAtoi(a.substr(name.size() + 3), &v) || v < 1) {
        Die(absl::StrCat("--", name, ": '", a.substr(name.size() + 3),
                         "' is not a positive integer"));
      }
      return v;
    }
  }
  return fallback;
}

int Main(int argc, char** argv) {
  std::string binary = OPTBENCH_COORDINATOR_BIN;
  for (int i = 1; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--coordinator=")) binary = argv[i] + 14;
  }
  if (binary.empty()) Die("--coordinator=PATH to optbench-coordinator is required");
  const int evals = static_cast<int>(Flag(argc, argv, "evals", 1000));
  const int64_t big = Flag(argc, argv, "big_classes", 50000);
  const int claimers = static_cast<int>(Flag(argc, argv, "claimers", 32));
  const int claim_jobs = static_cast<int>(Flag(argc, argv, "claim_jobs", 2000));

  std::printf("%-58s %14s %s\n", "measure", "value", "target");
  {
    // Ingest: what optbench-worker sends for a 5,000-class cross-entropy job, every per-class
    // metric on both splits (8 x 5,000 values per evaluation).
    Coordinator c(binary);
    c.Submit("ingest", 1);
    IngestResult r = Ingest(&c, 5000, 200, 4, true);
    std::printf("%-58s %14.2f %s\n", "ingest 5,000 classes x 8 per-class metrics, M values/s",
                r.values / r.seconds / 1e6, ">= 20");
    std::printf("%-58s %14.2f\n", "  ms per evaluation (40,000 values)", 1e3 * r.seconds / 200);
    std::printf("%-58s %14.1f\n", "  database bytes per value", double(c.DbBytes()) / r.values);
  }
  for (int64_t classes : {int64_t{5000}, big}) {
    // A stored job of `classes` x `evals` evaluations; only loss_sum on the train split is
    // stored (what the queries read; the other metrics are separate rows).
    Coordinator c(binary);
    std::vector<std::string> ids = c.Submit("query", 1);
    IngestResult r = Ingest(&c, classes, evals, 1, false);
    std::printf("%-58s %14.2f\n",
                absl::StrCat("  (storing ", classes, " x ", evals, ": M values/s)").c_str(),
                r.values / r.seconds / 1e6);
    int64_t points = 0;
    std::string error;
    const double grouped = QueryMs(&c, ids[0], v1::GROUP_BY_FREQUENCY, 5, 0, &points, &error);
    if (grouped < 0) Die("frequency-grouped query refused: " + error);
    if (points != evals) Die(absl::StrCat("query returned ", points, " points, want ", evals));
    std::printf(
        "%-58s %14.1f %s\n",
        absl::StrCat("query loss frequency-grouped ", classes, " x ", evals, ", ms").c_str(),
        grouped, classes == 5000 ? "<= 50" : "<= 1000");
    const double per_class = QueryMs(&c, ids[0], v1::GROUP_BY_CLASS, 3, 0, &points, &error);
    if (per_class >= 0) {
      std::printf("%-58s %14.1f\n",
                  absl::StrCat("query loss per class ", classes, " x ", evals, ", ms").c_str(),
                  per_class);
      continue;
    }
    std::printf("%-58s %14s (%s)\n",
                absl::StrCat("query loss per class ", classes, " x ", evals, ", ms").c_str(),
                "refused", error.c_str());
    // What fits in one answer: the first 100 evaluations.
    const double first = QueryMs(&c, ids[0], v1::GROUP_BY_CLASS, 3, 1000, &points, &error);
    if (first < 0) Die("per-class query of 100 evaluations refused: " + error);
    std::printf("%-58s %14.1f\n",
                absl::StrCat("query loss per class ", classes, " x 100, ms").c_str(), first);
  }
  {
    Coordinator c(binary);
    std::printf(
        "%-58s %14.0f %s\n",
        absl::StrCat("job claims/s, ", claimers, " concurrent claimers, ", claim_jobs, " jobs")
            .c_str(),
        ClaimsPerSecond(&c, claim_jobs, claimers), ">= 1000");
  }
  return 0;
}

}  // namespace
}  // namespace optbench::bench

int main(int argc, char** argv) { return optbench::bench::Main(argc, argv); }
