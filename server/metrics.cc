#include "server/metrics.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "server/scheduler.h"
#include "storage/store.h"

namespace optbench::server {
namespace {

// A label value with Prometheus' escapes (backslash, double quote, newline).
std::string LabelValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void Header(absl::string_view name, absl::string_view type, absl::string_view help,
            std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// A number as Prometheus reads it (10 significant digits), +Inf spelled its way.
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.10g", v);
}

class CountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  CountingInterceptor(RpcCounter* counter, std::string method)
      : counter_(counter), method_(std::move(method)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      counter_->Count(method_, methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  RpcCounter* const counter_;
  const std::string method_;
};

class CountingFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(RpcCounter* counter) : counter_(counter) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CountingInterceptor(counter_, std::string(absl::StripPrefix(info->method(), "/")));
  }

 private:
  RpcCounter* const counter_;
};

}  // namespace

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

LatencyHistogram::LatencyHistogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void LatencyHistogram::Observe(absl::Duration duration) {
  const double seconds = absl::ToDoubleSeconds(duration);
  // The first bucket whose bound is >= the value (Prometheus' buckets are "le").
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin();
  absl::MutexLock lock(&mu_);
  ++counts_[bucket];
  sum_ += seconds;
}

void LatencyHistogram::Render(absl::string_view name, absl::string_view help,
                              std::string* out) const {
  Header(name, "histogram", help, out);
  absl::MutexLock lock(&mu_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    const double le = i < bounds_.size() ? bounds_[i] : INFINITY;
    absl::StrAppend(out, name, "_bucket{le=\"", Number(le), "\"} ", cumulative, "\n");
  }
  absl::StrAppend(out, name, "_sum ", Number(sum_), "\n", name, "_count ", cumulative, "\n");
}

void RpcCounter::Count(absl::string_view method, grpc::StatusCode code) {
  absl::MutexLock lock(&mu_);
  ++counts_[{std::string(method), code}];
}

void RpcCounter::Render(std::string* out) const {
  Header("optbench_rpcs_total", "counter", "Finished RPCs by method and status code.", out);
  absl::MutexLock lock(&mu_);
  for (const auto& [key, n] : counts_) {
    absl::StrAppend(out, "optbench_rpcs_total{method=\"", LabelValue(key.first), "\",code=\"",
                    StatusCodeName(key.second), "\"} ", n, "\n");
  }
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcCounter::InterceptorFactory(RpcCounter* counter) {
  return std::make_unique<CountingFactory>(counter);
}

absl::StatusOr<std::string> RenderMetrics(Scheduler& scheduler,
                                          const LatencyHistogram& sqlite_writes,
                                          const RpcCounter& rpcs) {
  std::string out;
  auto counts = scheduler.CountJobs("");
  if (!counts.ok()) return counts.status();
  Header("optbench_jobs", "gauge", "Jobs by state.", &out);
  // Every state, zeros included, so that a state's series exists before its first job.
  std::map<storage::JobState, int64_t> by_state;
  for (storage::JobState state :
       {storage::JobState::kQueued, storage::JobState::kRunning, storage::JobState::kSucceeded,
        storage::JobState::kFailed, storage::JobState::kDiverged, storage::JobState::kCancelled}) {
    by_state[state] = 0;
  }
  for (const auto& [state, n] : *counts) by_state[state] += n;
  for (const auto& [state, n] : by_state) {
    absl::StrAppend(&out, "optbench_jobs{state=\"", storage::JobStateName(state), "\"} ", n, "\n");
  }
  auto workers = scheduler.ListWorkers();
  if (!workers.ok()) return workers.status();
  const int64_t lost = std::count_if(workers->begin(), workers->end(),
                                     [&](const auto& w) { return scheduler.IsLost(w); });
  Header("optbench_workers", "gauge",
         "Workers by liveness: alive, or lost (silent for more than a lease; unlisted later).",
         &out);
  absl::StrAppend(&out, "optbench_workers{liveness=\"alive\"} ",
                  static_cast<int64_t>(workers->size()) - lost, "\n");
  absl::StrAppend(&out, "optbench_workers{liveness=\"lost\"} ", lost, "\n");

  const SchedulerCounters& c = scheduler.counters();
  auto counter = [&out](absl::string_view name, absl::string_view help, uint64_t value) {
    Header(name, "counter", help, &out);
    absl::StrAppend(&out, name, " ", value, "\n");
  };
  counter("optbench_leases_total", "Jobs handed to a worker (every attempt).",
          c.leases.load(std::memory_order_relaxed));
  counter("optbench_lease_expiries_total", "Leases that ran out before their worker was heard.",
          c.lease_expiries.load(std::memory_order_relaxed));
  counter("optbench_requeues_total",
          "Attempts that ended with the job queued again (an expired lease, a retryable failure "
          "or a hand-back).",
          c.requeues.load(std::memory_order_relaxed));
  counter("optbench_report_batches_total", "Metric batches stored.",
          c.report_batches.load(std::memory_order_relaxed));
  counter("optbench_report_values_total",
          "Metric values stored (a per-class row counts each of its values).",
          c.report_values.load(std::memory_order_relaxed));
  sqlite_writes.Render("optbench_sqlite_write_seconds",
                       "SQLite write transactions: BEGIN IMMEDIATE to COMMIT.", &out);
  rpcs.Render(&out);
  return out;
}

absl::StatusOr<std::unique_ptr<HttpServer>> StartMetricsHttpServer(const std::string& listen,
                                                                   MetricsRender render) {
  HttpServerOptions options;
  options.flag = "metrics_listen";
  options.listen = listen;
  // Scrapes are rare and small: two threads, not one per core.
  options.threads = 2;
  return HttpServer::Start(options, [render](httplib::Server& http) {
    http.Get("/metrics", [render](const httplib::Request&, httplib::Response& response) {
      absl::StatusOr<std::string> text = render();
      if (!text.ok()) {
        Log(LogLevel::kError, "metrics", "scrape failed: %s", text.status().ToString());
        response.status = 500;
        response.set_content(std::string(text.status().message()) + "\n", "text/plain");
        return;
      }
      response.set_content(*std::move(text), "text/plain; version=0.0.4; charset=utf-8");
    });
  });
}

}  // namespace optbench::server
