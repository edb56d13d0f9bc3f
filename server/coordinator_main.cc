// optbench-coordinator: serves the Coordinator and WorkerService APIs over one SQLite file.
//   optbench-coordinator --listen 127.0.0.1:7070 --db optbench.db
// SIGINT / SIGTERM drain it (health NOT_SERVING, no new leases, --drain_seconds) and stop it
// cleanly; kill -9 loses nothing it acknowledged (SQLite WAL).
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/flags_usage.h"
#include "common/logging.h"
#include "common/signals.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "server/coordinator.h"
#include "worker/engine/catalog.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070", "address to serve on (host:port; port 0 = any)");
ABSL_FLAG(std::string, db, "optbench.db", "SQLite database file (created if missing)");
ABSL_FLAG(int, lease_seconds, 30, "a job whose worker is silent this long is requeued");
ABSL_FLAG(int, heartbeat_seconds, 5, "how often workers heartbeat");
ABSL_FLAG(int, max_attempts, 3, "attempts per job before it is FAILED");
ABSL_FLAG(std::string, port_file, "", "write the bound port to this file once serving");
ABSL_FLAG(std::string, auth_tokens, "",
          "tokens file: '<token> <role>[,<role>] [<name>]' per line; roles worker, submit, read, "
          "admin (default $OPTBENCH_AUTH_TOKENS)");
ABSL_FLAG(bool, insecure, false,
          "allow a non-loopback --listen without --auth_tokens (anyone reaching the port can "
          "do anything)");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate chain (enables TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "", "require client certificates signed by this PEM CA");
ABSL_FLAG(bool, reflection, true,
          "serve gRPC server reflection (grpcurl, grpc_cli: lists the services and their types; "
          "needs no token)");
ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP, no token: counts "
          "only); empty = off");
ABSL_FLAG(std::string, http_listen, "",
          "serve the read-only web dashboard at http(s)://HOST:PORT/ (sweeps, jobs, curves); "
          "same tokens (read role; browsers: open any page once with ?token=TOKEN) and TLS as "
          "--listen; off loopback only with --auth_tokens; empty = off");
ABSL_FLAG(double, drain_seconds, 5,
          "on SIGTERM/SIGINT: report NOT_SERVING and lease nothing for this long while reports "
          "and completions go on, then stop (a second signal stops at once; 0 = no drain)");
ABSL_FLAG(std::string, log_format, "plain",
          "log lines as 'plain' (human, with job=, attempt=, worker= on job events) or 'json' "
          "(one object per line)");

int main(int argc, char** argv) {
  optbench::ConfigureFlagsUsage("optbench-coordinator");
  absl::SetProgramUsageMessage("optbench coordinator: --listen HOST:PORT --db FILE");
  absl::ParseCommandLine(argc, argv);
  if (optbench::LogFormat format;
      optbench::ParseLogFormat(absl::GetFlag(FLAGS_log_format), &format)) {
    optbench::SetLogFormat(format);
  } else {
    std::fprintf(stderr, "%s: --log_format=%s: expected plain or json\n", "optbench-coordinator",
                 absl::GetFlag(FLAGS_log_format).c_str());
    return 2;
  }
  const double drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  if (!(drain_seconds >= 0 && drain_seconds <= 3600)) {
    std::fprintf(stderr,
                 "optbench-coordinator: --drain_seconds=%g is out of range; allowed [0, 3600]\n",
                 drain_seconds);
    return 2;
  }
  // Links gRPC's reflection plugin, which then registers itself with every server;
  // CoordinatorOptions::reflection takes it off again.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  // Before any thread starts: main waits for the stop signals with sigwait.
  const sigset_t signals = optbench::BlockStopSignals();

  optbench::server::CoordinatorOptions options;
  // The binary is where the engine's tables meet the server: it validates with what its workers
  // run.
  options.catalog = &optbench::engine::Catalog();
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.auth_tokens_path = absl::GetFlag(FLAGS_auth_tokens);
  if (const char* env = std::getenv("OPTBENCH_AUTH_TOKENS");
      options.auth_tokens_path.empty() && env != nullptr) {
    options.auth_tokens_path = env;
  }
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_path = absl::GetFlag(FLAGS_tls_client_ca);
  options.reflection = absl::GetFlag(FLAGS_reflection);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  const int lease = absl::GetFlag(FLAGS_lease_seconds);
  const int heartbeat = absl::GetFlag(FLAGS_heartbeat_seconds);
  const int attempts = absl::GetFlag(FLAGS_max_attempts);
  if (lease < 1 || heartbeat < 1 || heartbeat >= lease || attempts < 1 || attempts > 100) {
    std::fprintf(stderr,
                 "optbench-coordinator: need 1 <= --heartbeat_seconds (%d) < --lease_seconds "
                 "(%d) and 1 <= --max_attempts (%d) <= 100\n",
                 heartbeat, lease, attempts);
    return 2;
  }
  options.scheduler.lease = absl::Seconds(lease);
  options.scheduler.heartbeat = absl::Seconds(heartbeat);
  options.scheduler.max_attempts = attempts;

  auto coordinator = optbench::server::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::fprintf(stderr, "optbench-coordinator: %s\n", coordinator.status().ToString().c_str());
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Written to a temporary name and renamed, so a reader never sees a partial file.
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << (*coordinator)->port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  optbench::Log(optbench::LogLevel::kInfo, "coordinator", "signal %d: shutting down", sig);
  if (drain_seconds > 0) {
    // A second signal ends the drain at once. Joined before the coordinator goes: if no second
    // signal came, main sends the thread one itself.
    optbench::server::Coordinator* c = coordinator->get();
    std::atomic<bool> drained{false};
    std::thread second_signal([signals, c, &drained] {
      int second = 0;
      sigwait(&signals, &second);
      if (drained.load()) return;
      optbench::Log(optbench::LogLevel::kInfo, "coordinator", "signal %d: stopping now", second);
      c->CutDrainShort();
    });
    (*coordinator)->Drain(absl::Seconds(drain_seconds));
    drained.store(true);
    pthread_kill(second_signal.native_handle(), SIGTERM);
    second_signal.join();
  }
  (*coordinator)->Shutdown();
  optbench::Log(optbench::LogLevel::kInfo, "coordinator", "stopped");
  return 0;
}
