#include "server/coordinator.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_channel.h"
#include "common/logging.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "storage/sqlite_store.h"

namespace optbench::server {
namespace {

// Per-class vectors of large vocabularies make big batches; 64 MiB bounds one message.
constexpr int kMaxMessageBytes = 64 << 20;

// Drops gRPC's reflection plugin from one server (linking the plugin registers it for all).
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};

// The overall status ("") and each service's.
void SetServing(grpc::Server* server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  for (const char* service :
       {v1::Coordinator::service_full_name(), v1::WorkerService::service_full_name()}) {
    health->SetServingStatus(service, serving);
  }
}

// HOST:PORT, with an IPv6 host in brackets.
std::string JoinHostPort(const std::string& host, int port) {
  return absl::StrContains(host, ':') ? absl::StrCat("[", host, "]:", port)
                                      : absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  if (options.catalog == nullptr) {
    return absl::InvalidArgumentError("catalog: a coordinator needs the catalog of tasks");
  }
  std::unique_ptr<Coordinator> c(new Coordinator());
  const std::string host = HostOfListen(options.listen);
  const bool tls = !options.tls_cert_path.empty() || !options.tls_key_path.empty();
  if (!options.auth_tokens_path.empty()) {
    auto auth = Authenticator::FromFile(options.auth_tokens_path);
    if (!auth.ok()) return auth.status();
    c->auth_ = std::make_unique<Authenticator>(*std::move(auth));
  }
  if (!IsLoopbackHost(host)) {
    if (c->auth_ == nullptr && !options.insecure) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to listen on non-loopback address '", options.listen,
          "' without authentication: give --auth_tokens FILE (or --insecure to accept that "
          "anyone who can reach the port can submit, read and run jobs)"));
    }
    if (!tls) {
      Log(LogLevel::kWarning, "coordinator",
          "WARNING: serving %s without TLS: tokens and results cross the network in clear text "
          "(give --tls_cert and --tls_key)",
          options.listen);
    }
    if (c->auth_ == nullptr) {
      Log(LogLevel::kWarning, "coordinator",
          "WARNING: --insecure: serving %s without authentication", options.listen);
    }
  }
  if (!options.http_listen.empty()) {
    absl::Status exposure =
        CheckDashboardExposure(options.http_listen, c->auth_ != nullptr, options.insecure);
    if (!exposure.ok()) return exposure;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (tls) {
    if (options.tls_cert_path.empty() || options.tls_key_path.empty()) {
      return absl::InvalidArgumentError("tls: give both --tls_cert and --tls_key");
    }
    auto cert = ReadTextFile(options.tls_cert_path);
    if (!cert.ok()) return cert.status();
    auto key = ReadTextFile(options.tls_key_path);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl(
        options.tls_client_ca_path.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options.tls_client_ca_path.empty()) {
      auto ca = ReadTextFile(options.tls_client_ca_path);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    credentials = grpc::SslServerCredentials(ssl);
  } else if (!options.tls_client_ca_path.empty()) {
    return absl::InvalidArgumentError("tls: --tls_client_ca needs --tls_cert and --tls_key");
  }
  storage::SqliteStoreOptions store_options;
  if (!options.metrics_listen.empty()) {
    LatencyHistogram* writes = &c->sqlite_writes_;
    store_options.on_write = [writes](absl::Duration d) { writes->Observe(d); };
  }
  auto store = storage::SqliteStore::Open(options.db_path, store_options);
  if (!store.ok()) return store.status();
  c->store_ = *std::move(store);
  Clock* clock = options.clock != nullptr ? options.clock : Clock::Real();
  c->scheduler_ = std::make_unique<Scheduler>(c->store_.get(), clock, options.scheduler);
  c->coordinator_service_ = std::make_unique<CoordinatorService>(
      c->scheduler_.get(), options.catalog, options.limits, c->auth_.get());
  c->worker_service_ =
      std::make_unique<WorkerService>(c->scheduler_.get(), options.catalog, c->auth_.get());

  // grpc.health.v1.Health, answered by gRPC itself: SERVING until a drain (no token needed, so
  // that probes can ask).
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &c->port_);
  if (!options.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  if (!options.metrics_listen.empty()) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> counting;
    counting.push_back(RpcCounter::InterceptorFactory(&c->rpcs_));
    builder.experimental().SetInterceptorCreators(std::move(counting));
  }
  builder.RegisterService(c->coordinator_service_.get());
  builder.RegisterService(c->worker_service_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Accept the workers' keepalive pings (every 20 s, also between calls).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || c->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.listen, "' (address in use or not local?)"));
  }
  SetServing(c->server_.get(), true);
  std::string dial = host;
  if (dial.empty() || dial == "0.0.0.0") dial = "127.0.0.1";
  if (dial == "::") dial = "::1";
  c->address_ = JoinHostPort(dial, c->port_);

  // The reaper returns expired leases to the queue even when no worker is polling.
  Coordinator* self = c.get();
  const absl::Duration interval = options.reap_interval;
  c->reaper_ = std::thread([self, interval]() {
    while (!self->stop_.WaitForNotificationWithTimeout(interval)) {
      if (auto s = self->scheduler_->ExpireLeases(); !s.ok()) {
        Log(LogLevel::kError, "coordinator", "lease reaper: %s", s.status().ToString());
      }
    }
  });
  // Where it listens, not address_ (where a client on this host dials): 0.0.0.0 is every
  // interface, not only loopback.
  if (!options.metrics_listen.empty()) {
    auto metrics = StartMetricsHttpServer(options.metrics_listen, [self] {
      return RenderMetrics(*self->scheduler_, self->sqlite_writes_, self->rpcs_);
    });
    if (!metrics.ok()) return metrics.status();
    c->metrics_http_ = *std::move(metrics);
    Log(LogLevel::kInfo, "coordinator", "Prometheus metrics on http://%s/metrics",
        JoinHostPort(HostOfListen(options.metrics_listen), c->metrics_http_->port()));
  }
  if (!options.http_listen.empty()) {
    DashboardOptions dashboard;
    dashboard.listen = options.http_listen;
    dashboard.tls_cert_path = options.tls_cert_path;
    dashboard.tls_key_path = options.tls_key_path;
    dashboard.tls_client_ca_path = options.tls_client_ca_path;
    dashboard.insecure = options.insecure;
    auto started =
        Dashboard::Start(dashboard, c->scheduler_.get(), options.catalog, c->auth_.get());
    if (!started.ok()) return started.status();
    c->dashboard_ = *std::move(started);
    Log(LogLevel::kInfo, "coordinator", "dashboard on %s://%s/", tls ? "https" : "http",
        JoinHostPort(HostOfListen(options.http_listen), c->dashboard_->port()));
  }
  Log(LogLevel::kInfo, "coordinator", "listening on %s, database %s", JoinHostPort(host, c->port_),
      options.db_path);
  return c;
}

void Coordinator::Drain(absl::Duration notice) {
  if (stop_.HasBeenNotified() || server_ == nullptr) return;
  Log(LogLevel::kInfo, "coordinator",
      "draining: health NOT_SERVING, no new leases; reports and completions go on; stopping in "
      "%s",
      absl::FormatDuration(notice));
  SetServing(server_.get(), false);
  worker_service_->BeginDrain();
  drain_cut_.WaitForNotificationWithTimeout(notice);
}

void Coordinator::Shutdown(absl::Duration grace) {
  // Once, even when called from several threads (a signal handler thread and the destructor).
  std::call_once(shutdown_once_, [this, grace] {
    stop_.Notify();
    if (server_ != nullptr) SetServing(server_.get(), false);
    // Also reached from the destructor of a Coordinator whose Start failed half way.
    if (coordinator_service_ != nullptr) coordinator_service_->BeginShutdown();
    if (worker_service_ != nullptr) worker_service_->BeginShutdown();
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
    }
    if (reaper_.joinable()) reaper_.join();
    metrics_http_.reset();
    dashboard_.reset();
    stopped_.Notify();
  });
}

void Coordinator::Wait() { stopped_.WaitForNotification(); }

Coordinator::~Coordinator() { Shutdown(); }

}  // namespace optbench::server
