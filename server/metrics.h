// The coordinator's own metrics, in Prometheus' text exposition format (version 0.0.4), and the
// HTTP endpoint that serves them (`optbench-coordinator --metrics_listen HOST:PORT`, GET
// /metrics). Jobs by state and workers alive or lost are read at scrape time; lease expiries,
// requeues and report ingest come from the scheduler's counters; SQLite write latency from the
// store's write hook; RPCs by method and code from a server interceptor.
#ifndef OPTBENCH_SERVER_METRICS_H_
#define OPTBENCH_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "server/http_server.h"

namespace optbench::server {

class Scheduler;

// Durations in fixed buckets (seconds). Thread-safe.
class LatencyHistogram {
 public:
  // `bounds`: the buckets' upper bounds in seconds, increasing; +Inf is added.
  explicit LatencyHistogram(std::vector<double> bounds);
  void Observe(absl::Duration duration);
  // Appends the histogram `name` (HELP and TYPE lines, cumulative buckets, _sum, _count).
  void Render(absl::string_view name, absl::string_view help, std::string* out) const;

 private:
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // Per bucket, not cumulative; +Inf last.
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
};

// Finished RPCs by method ("optbench.v1.Coordinator/SubmitSweep") and status code. Thread-safe.
class RpcCounter {
 public:
  void Count(absl::string_view method, grpc::StatusCode code);
  void Render(std::string* out) const;
  // A factory for ServerBuilder::experimental().SetInterceptorCreators that counts every call's
  // final status into `counter` (not owned; must outlive the server).
  static std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory(
      RpcCounter* counter);

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, grpc::StatusCode>, uint64_t> counts_ ABSL_GUARDED_BY(mu_);
};

// "OK", "UNAVAILABLE", ... as Prometheus label values (gRPC's own names).
const char* StatusCodeName(grpc::StatusCode code);

// Everything, in the text format. Errors: the store's, reading job counts or workers.
absl::StatusOr<std::string> RenderMetrics(Scheduler& scheduler,
                                          const LatencyHistogram& sqlite_writes,
                                          const RpcCounter& rpcs);

// GET /metrics over plain HTTP on its own threads (server/http_server.h). Anything else is 404;
// only GET. Errors as HttpServer::Start.
using MetricsRender = std::function<absl::StatusOr<std::string>()>;
absl::StatusOr<std::unique_ptr<HttpServer>> StartMetricsHttpServer(const std::string& listen,
                                                                   MetricsRender render);

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_METRICS_H_
