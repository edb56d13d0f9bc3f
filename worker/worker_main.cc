// optbench-worker: pulls jobs from a coordinator and trains them.
//   optbench-worker --coordinator HOST:PORT --slots K [--threads_per_slot T]
// SIGTERM / SIGINT: graceful — running jobs are handed back to the queue (their attempt does not
// count) and the process exits.
#include <stdlib.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/flags_usage.h"
#include "common/grpc_channel.h"
#include "common/logging.h"
#include "common/signals.h"
#include "worker/worker.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070", "coordinator address HOST:PORT");
ABSL_FLAG(int, slots, 1, "jobs to run at once (one core each)");
ABSL_FLAG(int, threads_per_slot, 1,
          "threads for each job's matrix products (results do not depend on it; build with "
          "OpenBLAS for more than 1)");
ABSL_FLAG(std::string, worker_id, "", "stable id (default: host-pid-random)");
ABSL_FLAG(std::string, name, "", "display name (default: host name)");
ABSL_FLAG(int, connect_timeout_seconds, 60, "give up if the coordinator never answers");
ABSL_FLAG(std::string, token_file, "",
          "file holding a token with the worker role "
          "(default $OPTBENCH_TOKEN)");
ABSL_FLAG(int64_t, max_memory_mb, 0,
          "refuse jobs whose estimated peak memory is above this (0 = no limit)");
ABSL_FLAG(double, checkpoint_minutes, 5,
          "checkpoint jobs without trainer.checkpoint_every after this much training time; 0 = "
          "never (a preempted job checkpoints regardless)");
ABSL_FLAG(int64_t, model_piece_kib, 4096,
          "upload kept models (trainer.keep_model) in pieces of this many KiB, 1..16384");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA of the coordinator's certificate (enables TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, log_format, "plain",
          "log lines as 'plain' (human, with job=, attempt=, worker= on job events) or 'json' "
          "(one object per line)");

int main(int argc, char** argv) {
  // Before gRPC starts. A failed call does not stay to poll the channel's reconnection, so
  // between calls only gRPC's backup poller notices that a connection attempt finished, every
  // 5 s by default: after a coordinator restart the worker's channel stayed in "Connection
  // refused" ~8 s (measured), past a short lease's grace. Polled every 100 ms it is back within
  // its reconnect backoff (<= 1 s, worker.cc). An explicit setting in the environment wins.
  setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100", /*overwrite=*/0);
  optbench::ConfigureFlagsUsage("optbench-worker");
  absl::SetProgramUsageMessage("optbench worker: --coordinator HOST:PORT --slots K");
  absl::ParseCommandLine(argc, argv);
  if (optbench::LogFormat format;
      optbench::ParseLogFormat(absl::GetFlag(FLAGS_log_format), &format)) {
    optbench::SetLogFormat(format);
  } else {
    std::fprintf(stderr, "%s: --log_format=%s: expected plain or json\n", "optbench-worker",
                 absl::GetFlag(FLAGS_log_format).c_str());
    return 2;
  }

  // Before any thread starts: a signal thread waits for the stop signals with sigwait.
  const sigset_t signals = optbench::BlockStopSignals();

  optbench::worker::WorkerOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.slots = absl::GetFlag(FLAGS_slots);
  options.threads_per_slot = absl::GetFlag(FLAGS_threads_per_slot);
  options.worker_id = absl::GetFlag(FLAGS_worker_id);
  options.name = absl::GetFlag(FLAGS_name);
  options.max_memory_bytes = absl::GetFlag(FLAGS_max_memory_mb) << 20;
  const double checkpoint_minutes = absl::GetFlag(FLAGS_checkpoint_minutes);
  if (!(checkpoint_minutes >= 0 && checkpoint_minutes <= 1e6)) {
    std::fprintf(stderr,
                 "optbench-worker: --checkpoint_minutes=%g is out of range; allowed [0, 1e6]\n",
                 checkpoint_minutes);
    return 2;
  }
  options.checkpoint_interval = absl::Seconds(60 * checkpoint_minutes);
  const int64_t model_piece_kib = absl::GetFlag(FLAGS_model_piece_kib);
  if (model_piece_kib < 1 || model_piece_kib > 16384) {
    std::fprintf(stderr,
                 "optbench-worker: --model_piece_kib=%ld is out of range; allowed [1, 16384]\n",
                 static_cast<long>(model_piece_kib));
    return 2;
  }
  options.model_piece_bytes = model_piece_kib << 10;
  auto token = optbench::LoadClientToken(absl::GetFlag(FLAGS_token_file));
  if (!token.ok()) {
    std::fprintf(stderr, "optbench-worker: %s\n", token.status().ToString().c_str());
    return 2;
  }
  options.token = *token;
  auto credentials = optbench::MakeChannelCredentials(
      {absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key)});
  if (!credentials.ok()) {
    std::fprintf(stderr, "optbench-worker: %s\n", credentials.status().ToString().c_str());
    return 2;
  }
  options.credentials = *credentials;
  optbench::worker::Worker worker(options);

  std::thread signal_thread([&worker, signals]() {
    int sig = 0;
    sigwait(&signals, &sig);
    optbench::Log(optbench::LogLevel::kInfo, "worker", "signal %d: handing back jobs, exiting",
                  sig);
    worker.Stop();
  });
  signal_thread.detach();

  absl::Status s = worker.Start(absl::Seconds(absl::GetFlag(FLAGS_connect_timeout_seconds)));
  if (!s.ok()) {
    std::fprintf(stderr, "optbench-worker: %s\n", s.ToString().c_str());
    return 1;
  }
  worker.Wait();
  return 0;
}
