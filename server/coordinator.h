// Coordinator: one running coordinator — the SQLite store, the scheduler, both gRPC services and
// a lease reaper — assembled and served on one address. Used by optbench-coordinator and by the
// embedded `optbench run`.
#ifndef OPTBENCH_SERVER_COORDINATOR_H_
#define OPTBENCH_SERVER_COORDINATOR_H_

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/server.h"
#include "server/auth.h"
#include "server/coordinator_service.h"
#include "server/dashboard.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/worker_service.h"
#include "spec/catalog.h"
#include "storage/store.h"

namespace optbench::server {

struct CoordinatorOptions {
  // Required: the tasks and components submitted specs are validated against (the engine's
  // worker/engine/catalog.h Catalog() in the binaries). Not owned; must outlive the coordinator.
  const spec::Catalog* catalog = nullptr;
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one.
  std::string db_path = "optbench.db";
  SchedulerOptions scheduler;
  SubmitLimits limits;
  absl::Duration reap_interval = absl::Seconds(1);
  Clock* clock = nullptr;  // nullptr = the real clock.

  // Security. Without a tokens file every caller may do everything, so a coordinator refuses to
  // listen on a non-loopback address without one unless `insecure` is set.
  std::string auth_tokens_path;  // See server/auth.h for the format.
  bool insecure = false;
  std::string tls_cert_path;  // PEM server certificate chain; with tls_key_path = TLS on.
  std::string tls_key_path;
  std::string tls_client_ca_path;  // If set, clients must present a certificate signed by it.

  // Server reflection (grpcurl, grpc_cli) where the binary links gRPC's reflection plugin
  // (optbench-coordinator does); false removes it from this server.
  bool reflection = true;

  // Prometheus metrics (server/metrics.h) over HTTP on this HOST:PORT; empty = off. Plain HTTP
  // and no token: the page holds counts, never job data.
  std::string metrics_listen;

  // The read-only web dashboard (server/dashboard.h) on this HOST:PORT; empty = off. Same tokens
  // (read role) and TLS certificate as the gRPC API; off loopback only with tokens (or insecure).
  std::string http_listen;
};

// Owns everything it starts. Thread-safe after Start; Shutdown is idempotent and also run by the
// destructor.
class Coordinator {
 public:
  // Opens (creating or migrating) the database and starts serving. Errors: the store's (e.g.
  // DataLoss for a corrupt file), Unavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();

  // The bound port (the real one when options.listen asked for port 0).
  int port() const { return port_; }
  // "127.0.0.1:PORT" style address clients can dial.
  const std::string& address() const { return address_; }
  Scheduler* scheduler() { return scheduler_.get(); }
  // The metrics endpoint's port; 0 when off.
  int metrics_port() const { return metrics_http_ != nullptr ? metrics_http_->port() : 0; }
  // The dashboard's port; 0 when off.
  int http_port() const { return dashboard_ != nullptr ? dashboard_->port() : 0; }
  storage::Store* store() { return store_.get(); }

  // The first half of a graceful stop: health turns NOT_SERVING (grpc.health.v1, for probes and
  // load balancers), no job is leased any more (long polls wait empty-handed), while reports,
  // completions and reads go on. Then, after `notice` or CutDrainShort(), Shutdown(). Returns
  // at once if Shutdown has begun.
  void Drain(absl::Duration notice);
  // Ends a Drain's notice now (a second stop signal).
  void CutDrainShort() { drain_cut_.Notify(); }
  // Stops accepting calls, ends long polls and watches, waits up to `grace` for calls in flight.
  void Shutdown(absl::Duration grace = absl::Seconds(2));
  // Blocks until Shutdown has been called (from another thread or a signal handler thread).
  void Wait();

 private:
  Coordinator() = default;

  std::unique_ptr<Authenticator> auth_;
  // Before the store and the server, which write into them.
  LatencyHistogram sqlite_writes_{
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}};
  RpcCounter rpcs_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<CoordinatorService> coordinator_service_;
  std::unique_ptr<WorkerService> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread reaper_;
  std::unique_ptr<HttpServer> metrics_http_;
  std::unique_ptr<Dashboard> dashboard_;
  std::once_flag shutdown_once_;
  absl::Notification stop_;
  absl::Notification stopped_;
  absl::Notification drain_cut_;
  int port_ = 0;
  std::string address_;
};

}  // namespace optbench::server

#endif  // OPTBENCH_SERVER_COORDINATOR_H_
